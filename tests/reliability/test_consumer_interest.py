"""A consumer's interest: the event types it wants for a read, asked after the read (notifications: the types the
record copies need, and those an enabled subscription names). A record of another type is passed over, neither
applied nor recorded in the inbox, and its offset moves on; a type wanted from then on is applied."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from itsm_kit.db import inbox
from tests.helpers import eventually
from tests.reliability.conftest import Noted
from tests.reliability.test_consumer_commits import committed


async def test_records_of_a_type_not_wanted_are_passed_over_and_the_type_applied_once_wanted(kit_scratch):
    s = kit_scratch
    topic = await s.topic(partitions=1)
    group, subject = f"interest-{uuid.uuid4().hex[:6]}", f"interest-{uuid.uuid4().hex[:6]}"
    wanted: set[str] = set()
    asked = 0

    async def interest() -> set[str]:
        nonlocal asked
        asked += 1
        return set(wanted)

    async def recorded() -> int:
        async with s.sessions() as session:
            return await session.scalar(select(func.count()).select_from(inbox).where(inbox.c.topic == topic))

    async def offsets_at(n: int) -> None:
        assert await committed(s.bootstrap, group) == n

    async def applied(sequences: list[int]) -> None:
        assert [row.sequence for row in await s.applied([subject])] == sequences

    consumer = s.consumer(group, topic, "interested", interest=interest)
    running = asyncio.create_task(consumer.run())

    async def member() -> None:
        assert consumer.assigned

    try:
        await eventually(member)
        await s.publish(topic, [(subject, n) for n in range(1, 4)])
        await eventually(lambda: offsets_at(3))
        await applied([])
        assert await recorded() == 0 and asked >= 1

        wanted.add(Noted.type)
        await s.publish(topic, [(subject, n) for n in range(4, 6)])
        await eventually(lambda: applied([4, 5]))
        assert await recorded() == 2
    finally:
        consumer.stop()
        await asyncio.wait_for(running, 30)
