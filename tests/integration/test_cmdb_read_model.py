"""The incidents service's copy of the CMDB against its real database: events applied in
runs, stale and repeated ones changing nothing, removals kept as tombstones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from itsm_contracts import CloudEvent, envelope
from itsm_contracts.events.cmdb import (
    CiCreated, CiRelationshipAdded, CiRelationshipRemoved, CiRetired, CiStatusChanged, CiUpdated,
)
from itsm_kit.db import make_engine, make_sessionmaker
from itsm_kit.outbox import Outbox
from itsm_kit.runtime import Runtime
from itsm_incidents.consumers import event_handlers
from itsm_kit.cmdb_copy import CiRepository

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HANDLERS = event_handlers(Runtime(None, None, None, None, Outbox("itsm/incidents")))  # only its outbox is used


@pytest.fixture
async def sessions(platform):
    from itsm_incidents.settings import IncidentsSettings

    engine = make_engine(IncidentsSettings().database_url)  # the platform fixture set the environment
    yield make_sessionmaker(engine)
    await engine.dispose()


def event(data, subject: str, sequence: int) -> tuple[CloudEvent, object]:
    return envelope(data, source="itsm/cmdb", subject=subject, sequence=sequence), data


async def apply(sessions, *events: tuple[CloudEvent, object], one_by_one: bool = False) -> None:
    """As the consumer does: runs of one type through `many`, or each through `one`."""
    async with sessions() as session, session.begin():
        run: list = []
        for pair in [*events, None]:
            if run and (pair is None or pair[0].type != run[0][0].type or one_by_one):
                handler = HANDLERS[run[0][0].type]
                await (handler.one(session, *run[0]) if len(run) == 1 else handler.many(session, run))
                run = []
            if pair is not None:
                run.append(pair)


def created(ci_id: str, name: str, ci_class: str, criticality: int = 2) -> tuple:
    return event(CiCreated(ci_id=ci_id, name=name, ci_class=ci_class, criticality=criticality, created_at=T0),
                 ci_id, 1)


def related(rel_id: str, source: str, target: str, removed: bool = False) -> tuple:
    model = CiRelationshipRemoved if removed else CiRelationshipAdded
    at = {"removed_at": T0} if removed else {"added_at": T0}
    return event(model(relationship_id=rel_id, source_id=source, target_id=target, relationship_type="depends_on",
                       **at), rel_id, 2 if removed else 1)


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


@pytest.mark.parametrize("one_by_one", [False, True])
async def test_stale_and_repeated_events_change_nothing(sessions, one_by_one):
    [ci] = ids(1)
    renamed = event(CiUpdated(ci_id=ci, changes={"name": "db-new", "size_gb": 10}, updated_at=T0), ci, 2)
    down = event(CiStatusChanged(ci_id=ci, from_status="operational", to_status="down", changed_at=T0), ci, 3)
    await apply(sessions, created(ci, "db-old", "database"), renamed, down, one_by_one=one_by_one)
    await apply(sessions, created(ci, "db-old", "database"), renamed, one_by_one=one_by_one)  # replayed
    async with sessions() as session:
        row = await CiRepository(session).find(ci)
    assert (row["name"], row["operational_status"], row["sequence"]) == ("db-new", "down", 3)


async def test_business_services_follow_relationships_and_their_removal(sessions):
    service, app, host, other = ids(4)
    first, second, loop = ids(3)
    await apply(sessions, created(service, f"Shop {service[:6]}", "business_service", 1),
                created(app, "checkout", "application"), created(host, f"host {host[:6]}", "host"),
                related(first, service, app), related(second, app, host), related(loop, host, service))
    async with sessions() as session:
        view = CiRepository(session)
        assert [s["id"] for s in await view.business_services(host)] == [service]  # the loop ends
        assert (await view.find(f"HOST {host[:6]}"))["id"] == host
        assert await view.find(other) is None

    await apply(sessions, related(second, app, host, removed=True))
    await apply(sessions, related(second, app, host))  # a replayed addition stays removed
    async with sessions() as session:
        assert await CiRepository(session).business_services(host) == []
        assert [s["id"] for s in await CiRepository(session).business_services(app)] == [service]

    await apply(sessions, event(CiRetired(ci_id=service, from_status="operational", retired_at=T0), service, 2))
    async with sessions() as session:
        assert await CiRepository(session).business_services(app) == []
