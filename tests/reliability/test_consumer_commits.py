"""A consumer commits its offsets at most once per interval, not after every run (a commit is a request and a write at
the broker), and what it applied when it stops; events read again after a crash change nothing (the inbox)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from tests.helpers import eventually, group_offsets


async def committed(bootstrap: str, group: str) -> int | None:
    """The group's committed offset of its one partition (None: nothing committed)."""
    offsets = await group_offsets(bootstrap, group)
    return next((meta.offset for meta in offsets.values() if meta.offset >= 0), None)


async def test_offsets_wait_for_the_interval_a_crash_rereads_and_a_stop_commits(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=1)
    group, subject = f"commits-{uuid.uuid4().hex[:6]}", f"commit-{uuid.uuid4().hex[:6]}"

    async def applied(n: int):
        assert len(await s.applied([subject])) == n

    # The first run's offsets go at once; the next run's wait for the interval.
    first = s.consumer(group, topic, "first", commit_interval=3600)
    running = asyncio.create_task(first.run())
    await s.publish(topic, [(subject, n) for n in range(1, 4)])
    await eventually(lambda: applied(3))
    await eventually(lambda: _is(committed(s.bootstrap, group), 3))
    await s.publish(topic, [(subject, n) for n in range(4, 7)])
    await eventually(lambda: applied(6))
    await asyncio.sleep(1)  # several turns of the consumer's loop
    assert await committed(s.bootstrap, group) == 3

    # It crashes before committing them: the next member reads them again and applies none twice.
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert await committed(s.bootstrap, group) == 3
    second = s.consumer(group, topic, "second", commit_interval=3600)
    running = asyncio.create_task(second.run())
    await eventually(lambda: _is(committed(s.bootstrap, group), 6))  # its first run: the three read again
    await s.publish(topic, [(subject, 7)])
    await eventually(lambda: applied(7))
    await asyncio.sleep(1)
    assert await committed(s.bootstrap, group) == 6
    # A deliberate stop commits what was applied.
    second.stop()
    await asyncio.wait_for(running, 30)
    assert await committed(s.bootstrap, group) == 7
    assert [(row.sequence, row.consumer) for row in await s.applied([subject])] == [
        *((n, "first") for n in range(1, 7)), (7, "second")]


async def test_without_an_interval_every_run_is_committed(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=1)
    group, subject = f"commits-{uuid.uuid4().hex[:6]}", f"commit-{uuid.uuid4().hex[:6]}"
    consumer = s.consumer(group, topic, "one", commit_interval=0)
    running = asyncio.create_task(consumer.run())
    try:
        for first in (1, 4):
            await s.publish(topic, [(subject, n) for n in range(first, first + 3)])
            await eventually(lambda last=first + 2: _is(committed(s.bootstrap, group), last))
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 30)


async def _is(value, expected) -> None:
    assert await value == expected
