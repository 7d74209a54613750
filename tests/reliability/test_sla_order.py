"""The sla consumer against the real sla database: an incident's events apply in their sequence order,
whatever order they arrive in (another replica's relay, a replay)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from itsm_contracts import envelope
from itsm_contracts.events.incidents import IncidentOpened, IncidentStateChanged
from itsm_kit.outbox import Outbox
from itsm_kit.runtime import Runtime
from itsm_sla import consumers
from itsm_sla.store import timers
from tests.helpers import service_sessions

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
async def deliver(platform):
    """Hands events to sla's handlers, each in a transaction of its own, as separate deliveries are;
    yields the resolution timer's (stage, segment states) of an incident."""
    async with service_sessions("sla") as sessions:
        handlers = consumers.event_handlers(Runtime(settings=None, engine=None, sessions=sessions, producer=None,
                                                    outbox=Outbox("itsm/sla")))

        async def send(*events) -> None:
            for event, data in events:
                async with sessions() as session, session.begin():
                    await handlers[event.type].one(session, event, data)

        async def resolution(incident_id: str) -> tuple[str, list[str]]:
            async with sessions() as session:
                [row] = (await session.execute(select(timers.c.stage, timers.c.segments).where(
                    timers.c.incident_id == incident_id, timers.c.kind == "resolution"))).all()
            return row.stage, [s["state"] for s in row.segments]

        yield send, resolution


def history(incident_id: str, *moves: tuple[str, str, int]) -> list:
    """The incident's opening and its moves (from, to, minutes), as the incidents service numbers them."""
    datas = [IncidentOpened(incident_id=incident_id, number="INC-ORDER", short_description="order", state="new",
                            impact=2, urgency=2, priority=3, origin="monitoring", opened_at=T0)]
    datas += [IncidentStateChanged(incident_id=incident_id, from_state=a, to_state=b,
                                   changed_at=T0 + timedelta(minutes=m),
                                   hold_reason="awaiting_caller" if b == "on_hold" else None) for a, b, m in moves]
    return [(envelope(data, source="itsm/incidents", subject=incident_id, sequence=n), data)
            for n, data in enumerate(datas, start=1)]


async def test_a_change_that_arrives_before_the_opening_still_applies(deliver):
    send, resolution = deliver
    incident = str(uuid.uuid4())
    opened, held = history(incident, ("new", "on_hold", 10))
    await send(held, opened)
    assert await resolution(incident) == ("paused", ["running", "paused"])


async def test_a_change_that_arrives_after_later_ones_takes_its_place(deliver):
    send, resolution = deliver
    incident = str(uuid.uuid4())
    opened, started, held, resumed = history(incident, ("new", "in_progress", 5), ("in_progress", "on_hold", 10),
                                             ("on_hold", "in_progress", 40))
    await send(opened, started, resumed, held)
    assert await resolution(incident) == ("in_progress", ["running", "paused", "running"])
