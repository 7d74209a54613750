"""Consumer group changes: a rebalance in the middle of a batch, and a replica that dies and comes back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY

from tests.helpers import eventually


def overlaps(reason: str) -> float:
    return REGISTRY.get_sample_value("itsm_consumer_overlaps_total", {"reason": reason}) or 0


async def members(bootstrap: str, group: str) -> int:
    """How many members the group coordinator counts in the group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [(_error, _group, _state, _protocol_type, _protocol, listed, *_)] = described.groups
    return len(listed)


async def test_a_member_whose_batch_a_rebalance_gave_to_another_carries_on_and_nothing_applies_twice(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=1)
    group = f"overlap-{uuid.uuid4().hex[:6]}"
    subject = f"order-{uuid.uuid4().hex[:6]}"
    await s.publish(topic, [(subject, n) for n in range(1, 21)])
    stalled, resume = asyncio.Event(), asyncio.Event()

    async def stall(event) -> None:
        if not resume.is_set():
            stalled.set()
            await resume.wait()

    # Stuck in its first batch past its poll interval, a member is out of the group (as after a long
    # pause); another member takes the partition over, applies the batch and commits it.
    slow = s.consumer(group, topic, "slow", then=stall, max_poll_interval=1.0)
    slow_running = asyncio.create_task(slow.run())
    await asyncio.wait_for(stalled.wait(), 30)

    async def out_of_the_group():
        assert await members(s.bootstrap, group) == 0

    await eventually(out_of_the_group, every=0.2)
    other = s.consumer(group, topic, "other")
    other_running = asyncio.create_task(other.run())

    async def the_other_applied_them_all():
        assert len(await s.applied([subject])) == 20

    await eventually(the_other_applied_them_all)
    clashes, refusals = overlaps("inbox_clash"), overlaps("commit_refused")
    # The stalled batch goes on: its inbox rows clash with the other's, and the group refuses its offsets.
    resume.set()
    await s.publish(topic, [(subject, n) for n in range(21, 31)])

    async def every_event_applied_once():
        done = await s.applied([subject])
        assert sorted(sequence for _, _, sequence, _ in done) == list(range(1, 31))
        assert max(Counter(event_id for event_id, *_ in done).values()) == 1

    await eventually(every_event_applied_once)
    assert not slow_running.done() and not other_running.done(), "both members still consume"
    assert overlaps("inbox_clash") > clashes and overlaps("commit_refused") > refusals
    slow.stop()
    other.stop()
    await asyncio.gather(slow_running, other_running)  # and stop cleanly


async def test_a_replica_restarted_under_its_name_takes_its_partitions_straight_back(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=4)
    group = f"static-{uuid.uuid4().hex[:6]}"
    first, second = (s.consumer(group, topic, name, group_instance_id=name) for name in ("replica-0", "replica-1"))
    running = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]

    async def settled():
        assert first.assigned and second.assigned and not first.assigned & second.assigned
        assert len(first.assigned | second.assigned) == 4

    await eventually(settled)
    seconds_share, seconds_assignments = second.assigned, second.assignments
    # replica-0 dies: gone without a word to the group, as after SIGKILL
    running[0].cancel()
    await asyncio.gather(running[0], return_exceptions=True)
    subjects = [f"ci-{n}-{uuid.uuid4().hex[:6]}" for n in range(40)]  # keys on every partition
    await s.publish(topic, [(subject, 1) for subject in subjects])

    restarted = s.consumer(group, topic, "replica-0 again", group_instance_id="replica-0")
    started = time.monotonic()
    running[0] = asyncio.create_task(restarted.run())

    async def all_applied():
        assert len(await s.applied(subjects)) == len(subjects)

    await eventually(all_applied, every=0.02)
    print(f"restart to processing again: {time.monotonic() - started:.2f} s")
    done = await s.applied(subjects)
    assert {by for *_, by in done} == {"replica-1", "replica-0 again"}
    assert restarted.assigned == first.assigned, "the restarted replica has its own partitions back"
    assert (second.assigned, second.assignments) == (seconds_share, seconds_assignments), "and nobody else noticed"
    for member in (restarted, second):
        member.stop()
    await asyncio.gather(*running)


async def test_a_replica_that_shuts_down_leaves_its_group_at_once(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=2)
    group = f"leaving-{uuid.uuid4().hex[:6]}"
    first, second = (s.consumer(group, topic, name, group_instance_id=name) for name in ("replica-0", "replica-1"))
    running = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]

    async def settled():
        assert first.assigned and second.assigned and len(first.assigned | second.assigned) == 2

    await eventually(settled)
    first.stop()  # scaled in, or replaced in a rollout: under another name, it will not be back
    await running[0]
    assert await members(s.bootstrap, group) == 1, "gone now, not after the session timeout"
    subjects = [f"ci-{n}-{uuid.uuid4().hex[:6]}" for n in range(10)]
    await s.publish(topic, [(subject, 1) for subject in subjects])

    async def the_other_applied_them_all():
        assert {by for *_, by in await s.applied(subjects)} == {"replica-1"}
        assert len(await s.applied(subjects)) == len(subjects)

    await eventually(the_other_applied_them_all)
    second.stop()
    await running[1]
