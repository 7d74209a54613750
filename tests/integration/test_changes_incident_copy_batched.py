"""The changes service's incident copy as its consumer applies runs of itsm.incidents (its handler on a fresh
database): a run of hundreds of events costs a few SQL statements, not some per event, and leaves the copy, the CIs
whose changes are reassessed and the suspected incidents as the same events one at a time do."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from itsm_contracts import envelope
from itsm_contracts.events.incidents import (
    IncidentOpened, IncidentPriorityChanged, IncidentStateChanged, IncidentUpdated,
)
from itsm_kit.unit_of_work import UnitOfWork
from tests.helpers import migrated_unit_of_work

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC) - timedelta(minutes=30)
RUN = 200  # incidents opened in the run
MAX_STATEMENTS = 25  # for the whole run: copy, reassessment, suspicion, outbox (19 now; 1,146 one event at a time)


@pytest.fixture
async def uow(infra):
    from itsm_changes.store import write_timeline

    async with migrated_unit_of_work("changes", "itsm_changes_incident_copy_batched", write_timeline) as unit:
        yield unit


@pytest.fixture
def reassessed_on(monkeypatch) -> list[set[str]]:
    """The CIs each run had changes awaiting approval reassessed on."""
    from itsm_changes import handlers

    seen: list[set[str]] = []
    reassess = handlers._reassess_on

    async def spy(uow, touched, policy, cause):
        seen.append(set(touched))
        await reassess(uow, touched, policy, cause)
    monkeypatch.setattr(handlers, "_reassess_on", spy)
    return seen


async def given_cmdb_and_changes(uow: UnitOfWork) -> dict[str, str]:
    """app depends on db; two live CIs share a name; a retired CI has web's name. A deployment on app an hour ago
    (incidents on app are suspected), a change awaiting approval on host. Their ids."""
    from itsm_changes import handlers
    from itsm_kit.cmdb_copy import CiRepository

    def ci(ci_id: str, name: str, status: str = "operational") -> dict:
        return {"id": ci_id, "name": name, "ci_class": "application", "criticality": 2, "operational_status": status,
                "sequence": 1}
    async with uow:
        cis = CiRepository(uow.session)
        await cis.put([ci("ci-db", "Orders DB"), ci("ci-app", "Orders App"), ci("ci-web", "Web"),
                       ci("ci-web-old", "Web", "retired"), ci("ci-host", "Host 1"), ci("ci-twin-1", "Twin"),
                       ci("ci-twin-2", "Twin")])
        await cis.put_relationships([{"id": "r1", "source_id": "ci-app", "target_id": "ci-db", "type": "depends_on",
                                      "removed": False}])
        await uow.commit()
    deployed, _ = await handlers.record_deployment(
        uow, actor="pipeline", deployment_id=str(uuid.uuid4()), ci="ci-app", what="orders", version="1.2",
        pipeline_url=None, started_at=T0 - timedelta(hours=1), finished_at=None, outcome=None)
    awaiting = await handlers.request_change(uow, short_description="patch host", description=None,
                                             change_type="normal", planned_start=None, planned_end=None,
                                             affected_cis=["ci-host"])
    return {"deployed": deployed.id, "awaiting": awaiting.id}


def script() -> tuple[dict[str, str], list[list]]:
    """Two runs of incident events (the second the big one), with fresh incident ids: names -> ids, runs."""
    ids = {name: str(uuid.uuid4()) for name in ["a", "b", "c", "z", *(f"i{n}" for n in range(RUN - 3))]}
    n = iter(range(10_000))

    def opened(name, ci, *, sequence=1, priority=4):
        return IncidentOpened(incident_id=ids[name], number=f"INC{next(n):07d}", short_description="batched",
                              state="new", impact=3, urgency=3, priority=priority, origin="monitoring",
                              opened_at=T0 + timedelta(seconds=next(n)), affected_ci=ci), sequence

    def priority(name, sequence, to):
        return IncidentPriorityChanged(incident_id=ids[name], from_priority=4, to_priority=to, impact=2, urgency=2,
                                       changed_at=T0), sequence

    def state(name, sequence, to):
        return IncidentStateChanged(incident_id=ids[name], from_state="new", to_state=to, changed_at=T0), sequence

    def updated(name, sequence, **changes):
        return IncidentUpdated(incident_id=ids[name], changes=changes, updated_at=T0), sequence

    refs = ["ci-db"] * 100 + ["Web"] * 88 + [" orders APP ", "Orders App"] + ["Twin"] * 5 + [None, ""]
    big = [
        priority("z", 2, 1),  # before its incident is opened: nothing to change yet
        opened("a", "ci-db"), opened("c", "Orders DB"), opened("z", "Web"),
        *(opened(f"i{k}", ref) for k, ref in enumerate(refs)),
        opened("i0", "ci-web", priority=1),  # a replay: the copy keeps what it has
        priority("a", 2, 2), state("a", 3, "in_progress"), updated("a", 4, affected_ci="Web"),
        priority("a", 3, 1),  # older than what the copy has: ignored
        updated("c", 2, affected_ci="host 1"), updated("c", 3, affected_ci="ci-web"),  # passes through host
        priority("b", 4, 1),  # older than b's row
        state("b", 6, "on_hold"), updated("b", 7, priority=None, affected_ci=None),  # b taken off its CI
        updated("i1", 2, category="network"),  # nothing the copy keeps
    ]
    first = [opened("b", "ci-db", sequence=5, priority=3)]
    return ids, [first, big]


def as_events(run: list) -> list[tuple]:
    return [(envelope(data, source="itsm/incidents", subject=data.incident_id, sequence=sequence), data)
            for data, sequence in run]


@contextlib.contextmanager
def counted(engine):
    """Every statement the engine runs (an executemany counts once per row, as the database runs it)."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.extend([statement] * (len(parameters) if executemany else 1))
    sa_event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa_event.remove(engine.sync_engine, "before_cursor_execute", before)


async def apply(uow: UnitOfWork, run: list[tuple]) -> list[str]:
    """One consumer transaction applying a run, as runtime.batched does; the statements it ran."""
    from itsm_changes import handlers

    async with uow._sessions() as session:
        with counted(session.bind) as statements:
            async with session.begin():
                await handlers.incidents_changed(UnitOfWork(None, uow.outbox, timeline=uow._timeline,
                                                            session=session), run, handlers.RiskPolicy())
    return statements


async def copy_rows(uow: UnitOfWork, ids: dict[str, str]) -> dict[str, tuple]:
    from itsm_changes.store import incident_copy

    c = incident_copy.c
    names = {v: k for k, v in ids.items()}
    async with uow:
        rows = await uow.session.execute(select(c.id, c.affected_ci, c.priority, c.state, c.sequence)
                                         .where(c.id.in_(list(ids.values()))))
        return {names[r.id]: tuple(r)[1:] for r in rows.all()}


async def change_of(uow: UnitOfWork, change_id: str):
    from itsm_changes.store import ChangeRepository

    async with uow:
        return await ChangeRepository(uow.session).get(change_id)


async def test_a_run_of_200_opened_incidents_costs_a_few_statements_and_leaves_what_one_at_a_time_does(
        uow, reassessed_on):
    changes = await given_cmdb_and_changes(uow)
    ids, (first, big) = script()
    await apply(uow, as_events(first))
    reassessed_on.clear()

    statements = await apply(uow, as_events(big))

    assert len(statements) <= MAX_STATEMENTS, f"{len(statements)} statements for a run of {len(big)} events"
    rows = await copy_rows(uow, ids)
    assert len(rows) == RUN + 1
    assert rows["a"] == ("ci-web", 2, "in_progress", 4)  # the newest of each field; the older change ignored
    assert rows["b"] == (None, 3, "on_hold", 7)  # its older change ignored, taken off its CI
    assert rows["c"] == ("ci-web", 4, "new", 3)
    assert rows["z"] == ("ci-web", 4, "new", 1)  # opened after the change that came too early
    assert rows["i0"] == ("ci-db", 4, "new", 1)  # the replay changed nothing
    assert {rows[f"i{k}"][0] for k in range(190, 195)} == {"Twin"}  # a name two CIs share stays as given
    assert (rows["i188"], rows["i189"], rows["i195"], rows["i196"]) == (  # by name (case, spaces); none
        ("ci-app", 4, "new", 1), ("ci-app", 4, "new", 1), (None, 4, "new", 1), (None, 4, "new", 1))
    # Every CI an incident was on before or after an event, host on the way only (as one at a time reads them).
    assert reassessed_on == [{"ci-db", "ci-web", "ci-app", "Twin", "ci-host"}]
    assert (await change_of(uow, changes["awaiting"])).risk is not None
    suspected = (await change_of(uow, changes["deployed"])).suspected_incidents
    assert [s.incident_id for s in suspected] == [ids["i188"], ids["i189"]]
    assert {s.affected_ci for s in suspected} == {"ci-app"}

    # The same events, one per transaction (the consumer's path when a run fails), on other incidents.
    other_ids, (first, big) = script()
    reassessed_on.clear()
    for run in (first, big):
        for one in as_events(run):
            await apply(uow, [one])
    assert await copy_rows(uow, other_ids) == rows
    assert set().union(*reassessed_on[1:]) == {"ci-db", "ci-web", "ci-app", "Twin", "ci-host"}
    suspected = (await change_of(uow, changes["deployed"])).suspected_incidents
    assert [s.incident_id for s in suspected] == [ids["i188"], ids["i189"], other_ids["i188"], other_ids["i189"]]
