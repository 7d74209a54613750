"""A scratch database with the kit's tables, a producer and fresh topics on the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from itsm_contracts import CloudEvent, EventData, envelope
from itsm_contracts.events import register
from itsm_kit.consumer import EventConsumer
from itsm_kit.db import kit_metadata, make_engine, make_sessionmaker
from itsm_kit.kafka import ensure_topics, make_producer
from tests.helpers import fresh_database


@register
class Noted(EventData):
    """A throwaway contract: tests put it on topics of their own."""

    type: ClassVar[str] = "itsm.test.noted"
    topic: ClassVar[str] = "itsm.test.noted"
    subject: str

# What a test's handlers did, in the order they did it (`id`), by which consumer.
applied_metadata = MetaData()
applied = Table("applied", applied_metadata,
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("event_id", String(64), nullable=False),  # not unique: an event applied twice shows
                Column("subject", String(200), nullable=False),
                Column("sequence", Integer, nullable=False),
                Column("consumer", String(100), nullable=False),
                Column("at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()))


@dataclass
class Scratch:
    sessions: async_sessionmaker[AsyncSession]
    producer: object
    bootstrap: str

    async def topic(self, partitions: int) -> str:
        """A topic of its own (and its dead-letter topic), so a test sees only its own records."""
        name = f"itsm.test.{uuid.uuid4().hex[:10]}"
        await ensure_topics(self.bootstrap, [name], partitions=partitions, replication=1)
        return name

    async def publish(self, topic: str, events: Iterable[tuple[str, int]]) -> None:
        """(subject, sequence) events, keyed by subject as the relay keys them."""
        for subject, sequence in events:
            event = envelope(Noted(subject=subject), source="itsm/test", subject=subject, sequence=sequence)
            await self.producer.send(topic, event.to_json(), key=subject.encode())
        await self.producer.flush()

    def consumer(self, group: str, topic: str, name: str,
                 then: Callable[[CloudEvent], Awaitable[None]] | None = None, **options) -> EventConsumer:
        """A member of `group` that records each event it applies as applied by `name`, then awaits `then`."""
        async def record(session: AsyncSession, event: CloudEvent, data: Noted) -> None:
            await session.execute(insert(applied).values(event_id=event.id, subject=event.subject,
                                                         sequence=event.sequence, consumer=name))
            if then is not None:
                await then(event)

        return EventConsumer(name=group, topics=[topic], handlers={Noted.type: record}, bootstrap=self.bootstrap,
                             sessions=self.sessions, producer=self.producer, retry_backoff=0.01, **options)

    async def applied(self, subjects: Iterable[str]) -> list:
        """(event id, subject, sequence, consumer) of what these subjects' events did, in the order done."""
        async with self.sessions() as session:
            return (await session.execute(
                select(applied.c.event_id, applied.c.subject, applied.c.sequence, applied.c.consumer)
                .where(applied.c.subject.in_(list(subjects))).order_by(applied.c.id))).all()


@pytest.fixture(scope="module")
async def kit_scratch(infra, request) -> Scratch:
    url = await fresh_database(f"itsm_{request.module.__name__.rsplit('.', 1)[-1]}")
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
        await conn.run_sync(applied_metadata.create_all)
    producer = make_producer(infra["ITSM_KAFKA_BOOTSTRAP"], "reliability-test")
    await producer.start()
    yield Scratch(make_sessionmaker(engine), producer, infra["ITSM_KAFKA_BOOTSTRAP"])
    await producer.stop()
    await engine.dispose()
