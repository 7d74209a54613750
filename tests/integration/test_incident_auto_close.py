"""Auto-close against the real incidents database: the handler with a clock the test drives.

Incidents are made through the gateway; the job runs here, as a second replica would, and
the running service's outbox relay publishes what it closed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts import CloudEvent, topics
from itsm_kit.db import make_engine, make_sessionmaker
from itsm_kit.outbox import Outbox
from itsm_kit.unit_of_work import UnitOfWork
from itsm_incidents import handlers
from itsm_incidents.store import write_timeline
from tests.helpers import database_scalar, read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def sessions(platform):
    from itsm_incidents.settings import IncidentsSettings

    engine = make_engine(IncidentsSettings().database_url)  # the platform fixture set the environment
    yield make_sessionmaker(engine)
    await engine.dispose()


async def resolved_incident(gateway, *, days_ago: int = 0, **fields) -> dict:
    created = await gateway.post("/api/v1/incidents", json={"short_description": f"auto-close {uuid.uuid4().hex[:6]}",
                                                            **fields})
    incident = created.json()
    resolved = await gateway.post(f"/api/v1/incidents/{incident['id']}/resolve",
                                  json={"resolution_code": "fixed", "resolution_notes": "It works again"})
    assert resolved.status_code == 200
    if days_ago:
        await database_scalar("incidents", "UPDATE incidents SET resolved_at = resolved_at - make_interval(days => $2)"
                              " WHERE id = $1", incident["id"], days_ago)
    return incident


async def test_replicas_close_each_due_incident_once_and_never_a_major_one(gateway, sessions, infra):
    # Resolved days ago, but under the 7 days after which the running service's own job, on the real
    # clock, would close them itself and leave this test's replicas nothing to do.
    due = [await resolved_incident(gateway, days_ago=days) for days in (3, 2, 1)]
    major = await resolved_incident(gateway, days_ago=30, major=True)
    recent = await resolved_incident(gateway)
    now = datetime.now(UTC) + timedelta(days=6.5)  # only what was resolved over 7 days before this is due
    outbox = Outbox("itsm/incidents")

    def unit(session=None) -> UnitOfWork:
        """A unit of work of its own, or joining a transaction the test holds open (as a replica's would be)."""
        return UnitOfWork(None if session else sessions, outbox, timeline=write_timeline, session=session)

    async with sessions() as first, sessions() as second:
        async with first.begin():
            closed_first = await handlers.auto_close_due(unit(first), now, 7, batch_size=2)
            # A second replica meanwhile skips the rows the first holds, without waiting for them.
            async with second.begin():
                closed_second = await asyncio.wait_for(
                    handlers.auto_close_due(unit(second), now, 7, batch_size=10), timeout=10)
    assert (closed_first, closed_second) == (2, 1)
    assert await handlers.auto_close_due(unit(), now, 7) == 0
    assert await handlers.auto_close_due(unit(), now + timedelta(days=100), 0) == 0  # 0 disables

    for incident in due:
        closed = (await gateway.get(f"/api/v1/incidents/{incident['id']}")).json()
        assert closed["state"] == "closed" and datetime.fromisoformat(closed["closed_at"]) == now
        lines = (await gateway.get(f"/api/v1/incidents/{incident['id']}/activity")).json()["items"]
        assert [(a["old_value"], a["new_value"], a["actor"]) for a in lines if a["field"] == "state"][0] == (
            "resolved", "closed", "system")
    for incident in (major, recent):
        assert (await gateway.get(f"/api/v1/incidents/{incident['id']}")).json()["state"] == "resolved"

    def closed_events(records) -> dict[str, list[CloudEvent]]:
        events = [CloudEvent.from_json(r.value) for r in records]
        return {i["id"]: [e for e in events if e.subject == i["id"] and e.type == "itsm.incident.closed"]
                for i in (*due, major)}

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.INCIDENTS,
                               until=lambda rs: all(closed_events(rs)[i["id"]] for i in due))
    published = closed_events(records)
    assert [len(published[i["id"]]) for i in due] == [1, 1, 1] and published[major["id"]] == []
    assert all(published[i["id"]][0].data["automatically"] is True for i in due)
