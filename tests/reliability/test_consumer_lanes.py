"""A consumer's lanes: the records of one read are split by key and applied side by side, each lane in its own
transaction, each key's events in their order (incidents: one transaction's Python overlaps another's SQL)."""

from __future__ import annotations

import asyncio
import uuid
import zlib

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.consumer import LANE_RUN, Batched, EventConsumer
from tests.helpers import eventually
from tests.reliability.conftest import Noted


def subjects_in_lanes(lanes: int, prefix: str) -> list[str]:
    """One subject per lane: the lane of a record is its key's CRC-32 modulo the lanes."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < lanes:
        subject = f"{prefix}-{n}"
        found.setdefault(zlib.crc32(subject.encode()) % lanes, subject)
        n += 1
    return [found[lane] for lane in range(lanes)]


async def consume(s, topic: str, handler, expected: int, **options) -> None:
    """Run a consumer of `topic` with a run handler until `expected` events were applied."""
    applied: list[int] = []

    async def many(session: AsyncSession, run) -> None:
        await handler(run)
        applied.extend(event.sequence for event, _ in run)

    consumer = EventConsumer(name=f"lanes-{uuid.uuid4().hex[:6]}", topics=[topic],
                             handlers={Noted.type: Batched.of(many)}, bootstrap=s.bootstrap, sessions=s.sessions,
                             producer=s.producer, linger=1.0, **options)
    running = asyncio.create_task(consumer.run())
    try:
        async def all_applied():
            assert len(applied) == expected

        await eventually(all_applied, every=0.1, timeout=30)
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 30)


async def most_runs_at_once(s, lanes: int, events: int = LANE_RUN) -> int:
    """`events` events of each of two keys (in two lanes), all in one read: how many runs were applied at once."""
    topic = await s.topic(partitions=1)  # one partition: the lanes split its records by key
    subjects = subjects_in_lanes(2, uuid.uuid4().hex[:6])
    await s.publish(topic, [(subject, n) for n in range(1, events + 1) for subject in subjects])
    in_flight, most = 0, 0

    async def slow(run) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.3)
        in_flight -= 1

    await consume(s, topic, slow, 2 * events, lanes=lanes)
    return most


async def test_two_lanes_apply_the_runs_of_one_read_side_by_side(kit_scratch):
    assert await most_runs_at_once(kit_scratch, lanes=2) == 2


async def test_one_lane_applies_a_read_in_one_run(kit_scratch):
    assert await most_runs_at_once(kit_scratch, lanes=1) == 1


async def test_a_read_too_short_to_share_is_applied_in_one_run(kit_scratch):
    # A webhook's few alerts: two transactions would cost twice what one does, and overlap nothing worth it.
    assert await most_runs_at_once(kit_scratch, lanes=2, events=2) == 1


async def test_each_keys_events_stay_in_order_and_are_applied_once_across_lanes(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=2)
    subjects = subjects_in_lanes(3, uuid.uuid4().hex[:6])
    await s.publish(topic, [(subject, n) for n in range(1, 41) for subject in subjects])
    seen: dict[str, list[int]] = {}

    async def note(run) -> None:
        for event, _ in run:
            seen.setdefault(event.subject, []).append(event.sequence)
        await asyncio.sleep(0)  # let the other lanes in between

    # Reads of 90 at most: the first shared by the three lanes, what is left of 120 too short to share.
    await consume(s, topic, note, 120, lanes=3, batch_size=LANE_RUN * 3 * 3 // 2)
    assert seen == {subject: list(range(1, 41)) for subject in subjects}
