"""The outbox relay in record batches, against the real broker: every event once, each key on
the partition a plain send gives it, in the order staged."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import ClassVar

import asyncpg
import pytest
from sqlalchemy import func, select

from itsm_contracts import CloudEvent, EventData
from itsm_contracts.events import register
from itsm_kit.db import kit_metadata, make_engine, make_sessionmaker, outbox
from itsm_kit.kafka import ensure_topics, make_producer
from itsm_kit.outbox import Outbox, OutboxRelay
from tests.helpers import read_topic

pytestmark = pytest.mark.integration

TOPIC = f"itsm.test.batches.{uuid.uuid4().hex[:8]}"


@register
class GadgetCounted(EventData):
    """A throwaway contract on a topic of its own."""

    type: ClassVar[str] = "itsm.test.gadget_counted"
    topic: ClassVar[str] = TOPIC
    gadget_id: str
    n: int


async def test_a_batch_relay_keeps_each_key_on_its_partition_and_in_order(infra):
    server = infra["ITSM_DATABASE_URL"].rsplit("/", 1)[0]
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute("DROP DATABASE IF EXISTS itsm_kit_relay_test WITH (FORCE)")
    await admin.execute("CREATE DATABASE itsm_kit_relay_test")
    await admin.close()
    engine = make_engine(f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/itsm_kit_relay_test")
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
    await ensure_topics(infra["ITSM_KAFKA_BOOTSTRAP"], [TOPIC, f"{TOPIC}.probe"], partitions=3, replication=1)
    producer = make_producer(infra["ITSM_KAFKA_BOOTSTRAP"], "relay-batch-test")
    await producer.start()
    sessions = make_sessionmaker(engine)
    try:
        keys = [f"gadget-{i}" for i in range(15)]
        staged = [(keys[n % 15], [(n + 1, GadgetCounted(gadget_id=keys[n % 15], n=n))], None) for n in range(600)]
        async with sessions() as session, session.begin():
            await Outbox("itsm/test").add_many(session, staged)
        relay = OutboxRelay(sessions, producer, batch_size=250)
        assert [await relay.publish_batch() for _ in range(4)] == [250, 250, 100, 0]
        async with sessions() as session:
            assert await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None))) == 0

        records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], TOPIC, until=lambda rs: len(rs) >= 600)
        by_key: dict[str, list] = defaultdict(list)
        for record in records:
            by_key[record.key.decode()].append(record)
        assert len(records) == 600 and set(by_key) == set(keys)
        for key, got in by_key.items():
            assert {r.partition for r in got} == {await partition_of(producer, key)}
            assert [CloudEvent.from_json(r.value).data["n"] for r in sorted(got, key=lambda r: r.offset)] == [
                n for n in range(600) if keys[n % 15] == key]
    finally:
        await producer.stop()
        await engine.dispose()


async def partition_of(producer, key: str) -> int:
    """Where a plain send puts this key (on a topic of as many partitions)."""
    return (await (await producer.send(f"{TOPIC}.probe", b"{}", key=key.encode()))).partition
