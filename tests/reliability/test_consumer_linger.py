"""A consumer's linger: a short read waits for more events before its run is applied, so that a service reacting to
a stream of events applies them in fewer, larger runs (one transaction each)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.consumer import Batched, EventConsumer
from tests.helpers import eventually
from tests.reliability.conftest import Noted


def run_recorder(s, group: str, topic: str, runs: list[list[int]], **options) -> EventConsumer:
    """A consumer whose handler takes runs, noting each run's sequences."""
    async def many(session: AsyncSession, run) -> None:
        runs.append([event.sequence for event, _ in run])

    return EventConsumer(name=group, topics=[topic], handlers={Noted.type: Batched.of(many)}, bootstrap=s.bootstrap,
                         sessions=s.sessions, producer=s.producer, **options)


async def two_reads_apart(s, *, linger: float, batch_size: int = 500) -> list[list[int]]:
    """Three events, a pause of a fifth of a second, three more: the runs a consumer applies them in."""
    topic = await s.topic(partitions=1)
    subject = f"linger-{uuid.uuid4().hex[:6]}"
    runs: list[list[int]] = []
    consumer = run_recorder(s, f"linger-{uuid.uuid4().hex[:6]}", topic, runs, linger=linger, batch_size=batch_size)
    running = asyncio.create_task(consumer.run())
    try:
        async def assigned():
            assert consumer.assigned

        await eventually(assigned, every=0.1)
        await s.publish(topic, [(subject, n) for n in range(1, 4)])
        await asyncio.sleep(0.2)
        await s.publish(topic, [(subject, n) for n in range(4, 7)])

        async def all_applied():
            assert sum(map(len, runs)) == 6

        await eventually(all_applied, every=0.1, timeout=20)
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 30)
    return runs


async def test_events_arriving_within_the_linger_are_applied_in_one_run(kit_scratch):
    assert await two_reads_apart(kit_scratch, linger=1.0) == [[1, 2, 3, 4, 5, 6]]


async def test_without_a_linger_each_read_is_applied_as_it_comes(kit_scratch):
    assert await two_reads_apart(kit_scratch, linger=0) == [[1, 2, 3], [4, 5, 6]]


async def test_a_full_batch_does_not_wait_for_the_linger(kit_scratch):
    # A batch of three is full at the first read: it goes at once, and so does the next (a wait would outlast
    # the 20 s the events are given).
    assert await two_reads_apart(kit_scratch, linger=60, batch_size=3) == [[1, 2, 3], [4, 5, 6]]
