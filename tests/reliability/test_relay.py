"""Outbox relays of several replicas: one aggregate's events in order, and an event Kafka refuses set aside."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.partitioner import DefaultPartitioner

from prometheus_client import REGISTRY
from sqlalchemy import select

from itsm_contracts import CloudEvent
from itsm_kit.db import insert_rows, outbox
from itsm_kit.outbox import Outbox, OutboxRelay
from tests.helpers import eventually, read_topic
from tests.reliability.conftest import Noted


async def stage(s, topic: str, events: list[tuple[str, int, Noted | None]]) -> None:
    """(subject, sequence, data) rows in the outbox, in this order, as units of work would stage them."""
    staging = Outbox("itsm/test")
    rows = [{**staging._row(data or Noted(subject=subject), subject, sequence, None), "topic": topic}
            for subject, sequence, data in events]
    async with s.sessions() as session, session.begin():
        await insert_rows(session, outbox, rows)


class Caught:
    """A producer that keeps the relay using it waiting before it sends anything: a pass caught mid-way."""

    def __init__(self, producer):
        self._producer = producer
        self.holding = asyncio.Event()

    def __getattr__(self, name):
        return getattr(self._producer, name)

    async def partitions_for(self, topic):
        self.holding.set()
        await asyncio.Event().wait()  # until the pass is cancelled


class BatchCounting:
    """A producer that counts the record batches the relay hands it for one topic."""

    def __init__(self, producer, topic: str):
        self._producer, self.topic, self.batches = producer, topic, 0

    def __getattr__(self, name):
        return getattr(self._producer, name)

    async def send_batch(self, batch, topic, *, partition):
        self.batches += topic == self.topic
        return await self._producer.send_batch(batch, topic, partition=partition)


async def test_a_relay_pass_goes_out_in_a_few_large_record_batches(kit_scratch):
    # Kafka's cost is per request and per batch far more than per byte. 500 events of nearly 1 KB each (key and
    # value) are about 450 KB: at aiokafka's default batch of 16 KB that was some 30 batches, a broker request each.
    s = kit_scratch
    topic = await s.topic(partitions=1)
    subject = f"large-{uuid.uuid4().hex[:6]}-" + "x" * 180  # as long as an outbox key may be
    await stage(s, topic, [(subject, n, None) for n in range(1, 501)])
    producer = BatchCounting(s.producer, topic)
    relay = OutboxRelay(s.sessions, producer)
    while await relay.publish_batch():
        pass
    records = await read_topic(s.bootstrap, topic, until=lambda rs: len(rs) >= 500)
    assert [CloudEvent.from_json(r.value).sequence for r in records] == list(range(1, 501))
    assert 1 <= producer.batches <= 3


def spread_over_two_partitions(n: int) -> list[str]:
    """Subjects half of which the producer's partitioner puts on each partition: both consumers get work."""
    placer, subjects, per_partition = DefaultPartitioner(), [], {0: 0, 1: 0}
    while len(subjects) < n:
        subject = f"inc-{len(subjects)}-{uuid.uuid4().hex[:6]}"
        partition = placer(subject.encode(), [0, 1], [0, 1])
        if per_partition[partition] < n // 2:
            subjects.append(subject)
            per_partition[partition] += 1
    return subjects


async def test_two_relays_keep_each_aggregates_order_and_two_consumers_apply_it(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=2)
    group = f"order-{uuid.uuid4().hex[:6]}"
    consumers = [s.consumer(group, topic, f"consumer-{n}") for n in range(2)]
    running = [asyncio.create_task(c.run()) for c in consumers]

    async def both_consume():
        assert all(c.assigned for c in consumers) and len(consumers[0].assigned | consumers[1].assigned) == 2

    await eventually(both_consume)
    subjects = spread_over_two_partitions(8)
    await stage(s, topic, [(subject, sequence, None) for sequence in range(1, 11) for subject in subjects])

    # One replica's relay takes the oldest rows and is caught before it sends them; the other's tries
    # its pass meanwhile. Then the first replica dies mid-pass, and the other carries on.
    caught = Caught(s.producer)
    first, second = OutboxRelay(s.sessions, caught, batch_size=30), OutboxRelay(s.sessions, s.producer, batch_size=30)
    dying = asyncio.create_task(first.publish_batch())
    await asyncio.wait_for(caught.holding.wait(), 10)
    meanwhile = await second.publish_batch()
    dying.cancel()
    await asyncio.gather(dying, return_exceptions=True)
    while await second.publish_batch():
        pass

    async def all_applied():
        assert len(await s.applied(subjects)) == 80

    await eventually(all_applied)
    done = await s.applied(subjects)
    for subject in subjects:
        assert [sequence for _, applied_to, sequence, _ in done if applied_to == subject] == list(range(1, 11))
    assert meanwhile == 0, "the other relay waited for its turn"
    assert {by for *_, by in done} == {"consumer-0", "consumer-1"}
    for consumer in consumers:
        consumer.stop()
    await asyncio.gather(*running)


async def test_an_event_kafka_refuses_is_set_aside_and_the_events_behind_it_go_out(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=1)
    run = uuid.uuid4().hex[:6]
    too_big = Noted(subject="x" * 1_200_000)  # over what Kafka takes in one record
    await stage(s, topic, [(f"w-1-{run}", 1, None), (f"poison-{run}", 1, too_big), (f"w-2-{run}", 1, None),
                           (f"w-3-{run}", 1, None)])
    relay = OutboxRelay(s.sessions, s.producer, max_attempts=3, poll_seconds=0.05)
    relaying = asyncio.create_task(relay.run())

    async def set_aside_and_the_rest_published():
        async with s.sessions() as session:
            rows = {r.key: r for r in (await session.execute(
                select(outbox).where(outbox.c.key.like(f"%-{run}")))).all()}
        poison = rows.pop(f"poison-{run}")
        assert poison.set_aside_at is not None and poison.published_at is None and poison.attempts == 3
        assert poison.last_error.startswith("MessageSizeTooLargeError")
        assert all(r.published_at is not None for r in rows.values())

    await eventually(set_aside_and_the_rest_published)
    relaying.cancel()
    await asyncio.gather(relaying, return_exceptions=True)
    records = await read_topic(s.bootstrap, topic, until=lambda rs: {r.key for r in rs} >= {f"w-3-{run}".encode()})
    first_seen = list(dict.fromkeys(CloudEvent.from_json(r.value).subject for r in records))
    assert first_seen == [f"w-1-{run}", f"w-2-{run}", f"w-3-{run}"]
    await relay.purge_published()
    assert REGISTRY.get_sample_value("itsm_outbox_set_aside") == 1
    assert REGISTRY.get_sample_value("itsm_outbox_refused_total", {"topic": topic}) == 3
