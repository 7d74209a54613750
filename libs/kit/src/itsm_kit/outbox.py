"""Transactional outbox: events commit with the state change, a relay publishes them.

A crash between publishing and marking published means the event goes out again on
the next pass: at-least-once, made exactly-once in effect by every consumer's inbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import BigInteger, cast, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from itsm_contracts import CloudEvent, EventData
from itsm_kit import context
from itsm_kit.clock import utcnow
from itsm_kit.db import insert_rows, outbox
from itsm_kit.ids import uuid7
from itsm_kit.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG

log = logging.getLogger(__name__)


class Outbox:
    """Stages a service's events in the caller's transaction."""

    def __init__(self, source: str):
        self.source = source
        self.relay: OutboxRelay | None = None
        self._schemas: dict[type[EventData], str] = {}

    def _causes(self, cause: CloudEvent | None) -> tuple[str | None, str | None]:
        if cause is None:
            return context.current_correlation_id(), context.causation_id.get()
        # Work done for several events at once names each one's own cause.
        return cause.correlationid or cause.id, cause.id

    def _row(self, data: EventData, subject: str, sequence: int, cause: CloudEvent | None,
             time: datetime | None = None) -> dict:
        """The outbox row of one event: the bytes `envelope(...).to_json()` gives, written directly.

        A bulk write stages hundreds of thousands of events; skipping the validation of an
        envelope we build ourselves makes staging one several times cheaper.
        """
        correlation, causation = self._causes(cause)
        event_id = uuid7()  # time-ordered: the consumers' inbox index takes them at its end
        kind = type(data)
        if kind not in self._schemas:
            self._schemas[kind] = kind.dataschema()
        body = {"specversion": "1.0", "id": event_id, "source": self.source, "type": data.type, "subject": subject,
                "time": time or utcnow(), "datacontenttype": "application/json", "dataschema": self._schemas[kind],
                "sequence": sequence}
        if correlation is not None:
            body["correlationid"] = correlation
        if causation is not None:
            body["causationid"] = causation
        body["data"] = orjson.Fragment(data.__pydantic_serializer__.to_json(data))
        return {"event_id": event_id, "topic": data.topic, "key": subject,
                "payload": orjson.dumps(body, option=orjson.OPT_UTC_Z)}

    async def add_many(self, session: AsyncSession,
                       raised_by: list[tuple[str, list[tuple[int, EventData]], CloudEvent | None]]) -> None:
        """Stage what several aggregates raised, in order, in one statement: (subject, raised, cause) each."""
        now = utcnow()
        rows = [self._row(data, subject, sequence, cause, now)
                for subject, raised, cause in raised_by for sequence, data in raised]
        await insert_rows(session, outbox, rows)
        for _, raised, _ in raised_by:
            raised.clear()

    def committed(self) -> None:
        """Tell the relay there is work, so it need not wait for its next poll."""
        if self.relay is not None:
            self.relay.wake()


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.25,
        retention: timedelta = timedelta(hours=1),
    ):
        self.sessions = sessions
        self.producer = producer
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retention = retention
        self._wakeup = asyncio.Event()
        self._partitioner = DefaultPartitioner()  # the producer's own: a key lands where send() puts it
        # Test seam: runs after Kafka acknowledged a batch, before it is marked sent.
        self.after_publish: Callable[[list[int]], Awaitable[None]] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished events; returns how many went out."""
        async with self.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)  # replicas share the work
                )
            ).all()
            if not rows:
                return 0
            await asyncio.gather(*await self._send(rows))
            for topic, count in Counter(r.topic for r in rows).items():
                EVENTS_PUBLISHED.labels(topic).inc(count)
            ids = [r.id for r in rows]
            if self.after_publish is not None:
                await self.after_publish(ids)
            await session.execute(update(outbox).where(outbox.c.id == func.any(cast(ids, ARRAY(BigInteger))))
                                  .values(published_at=func.now()))
        return len(rows)

    async def _send(self, rows) -> list[asyncio.Future]:
        """Hand the rows to the producer in record batches, one per partition at a time.

        Each row goes to the partition its key hashes to, as a plain send would put it, in
        id order within the partition; the idempotent producer keeps batches of a partition
        in order, so per-key order holds. A batch costs a fraction of a send per record.
        """
        acks: list[asyncio.Future] = []
        partitions: dict[str, list[int]] = {}
        open_batches: dict[tuple[str, int], Any] = {}
        for r in rows:
            if r.topic not in partitions:
                partitions[r.topic] = sorted(await self.producer.partitions_for(r.topic))
            key = r.key.encode()
            partition = self._partitioner(key, partitions[r.topic], partitions[r.topic])
            batch = open_batches.get((r.topic, partition))
            if batch is None:
                batch = open_batches[(r.topic, partition)] = self.producer.create_batch()
            if batch.append(key=key, value=r.payload, timestamp=None) is None:  # full (and closed): send it
                acks.append(await self.producer.send_batch(batch, r.topic, partition=partition))
                batch = open_batches[(r.topic, partition)] = self.producer.create_batch()
                if batch.append(key=key, value=r.payload, timestamp=None) is None:  # bigger than a batch
                    acks.append(await self.producer.send(r.topic, r.payload, key=key, partition=partition))
        for (topic, partition), batch in open_batches.items():
            if batch.record_count():
                batch.close()  # ours alone: no plain send() may add to it in the producer's queue
                acks.append(await self.producer.send_batch(batch, topic, partition=partition))
        return acks

    async def purge_published(self) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(outbox).where(outbox.c.published_at < func.now() - self.retention)
            )
            backlog = await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None)))
        OUTBOX_BACKLOG.set(backlog or 0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = 0.0
        while True:
            self._wakeup.clear()  # before the pass, so a wake during it is not lost
            try:
                published = await self.publish_batch()
                if loop.time() >= next_purge:
                    await self.purge_published()
                    next_purge = loop.time() + 10
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                published = 0
                await asyncio.sleep(1)
            if published < self.batch_size:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
