"""When a consumer commit wakes the dispatcher: only after a run that made deliveries, from the task that committed
them (runs in tasks side by side: several consumers, or replicas of one in a test)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from itsm_notifications import consumers


class Dispatcher:
    def __init__(self) -> None:
        self.woken_by: list[str] = []

    def wake(self) -> None:
        self.woken_by.append(asyncio.current_task().get_name())


async def applied(listener, name: str, *, made: bool, commit_after: float) -> None:
    """A run in a task of its own: the pipeline notes the deliveries it made, the run commits, then the consumer tells
    its commit listeners."""
    asyncio.current_task().set_name(name)
    if made:
        consumers._deliveries_made.note()
    await asyncio.sleep(commit_after)
    listener()


async def partitions_applied(*runs: tuple[str, bool, float]) -> list[str]:
    dispatcher = Dispatcher()
    runtime = SimpleNamespace(consumers=[SimpleNamespace(committed_listeners=[])], extras={"dispatcher": dispatcher})
    async with consumers.waking_the_dispatcher(runtime):
        [listener] = runtime.consumers[0].committed_listeners
        await asyncio.gather(*(applied(listener, name, made=made, commit_after=after) for name, made, after in runs))
    return dispatcher.woken_by


async def test_commits_that_made_no_deliveries_leave_the_dispatcher_alone():
    assert await partitions_applied(("p0", False, 0), ("p1", False, 0)) == []


async def test_the_commit_that_made_deliveries_wakes_the_dispatcher_not_one_committed_before_it():
    # p0 made deliveries but commits last; p1, which made none, commits first and must not wake the dispatcher
    # then (it would claim before p0's deliveries are there, and nothing would wake it again).
    assert await partitions_applied(("p0", True, 0.05), ("p1", False, 0)) == ["p0"]


async def test_each_run_that_made_deliveries_wakes_it_once():
    assert await partitions_applied(("p0", True, 0), ("p1", True, 0.02), ("p2", False, 0.01)) == ["p0", "p1"]
