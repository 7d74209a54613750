"""Dispatch of the incidents a run of itsm.incidents opens (the requests service's consumer handler on a fresh
database; issue 19): a run costs a few SQL statements, not a few per incident, and decides exactly as one event at a
time did: the first matching rule wins, round robin gives the members their turns in order, least loaded weighs the
work the run gave before, "someone was quicker" is skipped, one decision and one itsm.record.dispatched per record.

Statements are counted with a before_cursor_execute listener on the handler's engine (COPY, which the kit uses for
200 rows and more, goes past it: it is one statement too), which also sees whether SQLAlchemy compiled a statement
anew or took it from its cache (compiling a multi-row VALUES for every run was 12 % of the service's CPU)."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine.interfaces import CacheStats

from itsm_contracts import envelope
from itsm_contracts.events.directory import GroupSaved, PersonSaved
from itsm_contracts.events.incidents import IncidentAssigned, IncidentOpened
from itsm_kit.db import outbox
from itsm_kit.unit_of_work import UnitOfWork
from itsm_requests.handlers import dispatch
from itsm_requests.store.tables import dispatch_decisions, dispatch_groups, open_work, tasks
from itsm_requests.store.timeline import write_timeline
from tests.helpers import migrated_unit_of_work

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
RUN = 200
_numbers = itertools.count(1)


@contextlib.asynccontextmanager
async def requests_database(name: str) -> AsyncIterator[UnitOfWork]:
    async with migrated_unit_of_work("requests", f"itsm_requests_dispatch_{name}", write_timeline) as uow:
        yield uow


@dataclass
class Sent:
    statements: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)  # those not taken from SQLAlchemy's compiled cache

    def __repr__(self) -> str:  # what an assertion shows: the statements, one a line
        return "\n".join(self.statements)


async def apply(uow: UnitOfWork, handler: Callable, run: list[tuple]) -> Sent:
    """One consumer transaction applying a run, as runtime.batched does: the SQL statements it sent."""
    sent = Sent()
    engine = uow._sessions.kw["bind"].sync_engine

    def sending(connection, cursor, statement, parameters, context, executemany) -> None:
        sent.statements.append(statement)
        if context.cache_hit is not CacheStats.CACHE_HIT:
            sent.compiled.append(statement)

    event.listen(engine, "before_cursor_execute", sending)
    try:
        async with uow._sessions() as session, session.begin():
            await handler(UnitOfWork(None, uow.outbox, timeline=uow._timeline, session=session), run)
    finally:
        event.remove(engine, "before_cursor_execute", sending)
    return sent


async def team(uow: UnitOfWork, group: str, members: dict[str, bool], method: str) -> None:
    """A directory group of these people (username: active) in the requests service's copy, its method set."""
    people = [PersonSaved(person_id=str(uuid.uuid4()), username=u, name=u.title(), active=active, saved_at=AT)
              for u, active in members.items()]
    saved = [*people, GroupSaved(group_id=str(uuid.uuid4()), name=group, members=list(members), saved_at=AT)]
    await apply(uow, dispatch.directory_changed,
                [(envelope(d, source="itsm/notifications", subject=str(uuid.uuid4())), d) for d in saved])
    await dispatch.set_group_method(uow, group, method)


async def rule(uow: UnitOfWork, name: str, group: str, **conditions: list) -> None:
    await dispatch.create_rule(uow, max_rules=100, name=name, record_types=["incident"], assignment_group=group,
                               conditions=conditions)


def opened(category: str | None = None, *, priority: int = 3, group: str | None = None, assignee: str | None = None,
           requester: str | None = None, ci: str | None = None, incident_id: str | None = None,
           sequence: int = 1) -> tuple:
    incident_id = incident_id or str(uuid.uuid4())
    data = IncidentOpened(incident_id=incident_id, number=f"INC{next(_numbers):07d}", short_description="dispatched",
                          state="new", impact=priority, urgency=priority, priority=priority, origin="monitoring",
                          opened_at=AT, category=category, assignment_group=group, assignee=assignee,
                          caller=requester, affected_ci=ci)
    return envelope(data, source="itsm/incidents", subject=incident_id, sequence=sequence), data


def assigned(incident_id: str, group: str, assignee: str, sequence: int = 2) -> tuple:
    data = IncidentAssigned(incident_id=incident_id, assignment_group=group, assignee=assignee, reassignment_count=0,
                            assigned_at=AT)
    return envelope(data, source="itsm/incidents", subject=incident_id, sequence=sequence), data


async def published(uow: UnitOfWork) -> list[tuple[str, dict]]:
    """The itsm.record.dispatched events staged, in publication order: (record id, data) each."""
    async with uow:
        rows = await uow.session.execute(select(outbox.c.key, outbox.c.payload).order_by(outbox.c.id))
        return [(key, orjson.loads(payload)["data"]) for key, payload in rows.all()]


async def scalar(uow: UnitOfWork, query):
    async with uow:
        return await uow.session.scalar(query)


async def test_a_run_of_200_opened_incidents_that_no_rule_matches_costs_a_few_statements(infra):
    async with requests_database("batched_none") as uow:
        # Rules that look at the CI and the requester: those are looked up, for the whole run at once.
        await rule(uow, "network in Oslo", "network-ops", category=["network"], requester_location=["Oslo"])
        await rule(uow, "databases", "dba", ci_owner_group=["dba"])
        earlier = [opened("printers", requester=f"user-{i}", ci=f"ci-{i}") for i in range(RUN // 2)]
        first = await apply(uow, dispatch.incidents_changed, earlier)
        run = [opened("printers", requester=f"user-{i}", ci=f"ci-{i}") for i in range(RUN)]

        sent = await apply(uow, dispatch.incidents_changed, run)

        # The open work, the rules' generation (the rules themselves were read by the first run: they are kept while
        # it stays the same), the CIs (by id, then by name), the requesters.
        assert len(first.statements) <= 6, first
        assert len(sent.statements) <= 5, sent
        assert sent.compiled == []  # all compiled once, by the first run, whatever the length of the next
        assert await scalar(uow, select(func.count()).select_from(open_work)) == RUN + RUN // 2
        assert await scalar(uow, select(func.count()).select_from(dispatch_decisions)) == 0
        assert await published(uow) == []


async def test_a_run_goes_round_robin_to_the_members_in_turn_in_a_few_statements(infra):
    async with requests_database("batched_round_robin") as uow:
        await team(uow, "printing", {"amy": True, "bea": False, "cal": True, "dan": True}, "round_robin")
        await rule(uow, "printers", "printing", category=["printers"])
        first = opened("printers")
        await apply(uow, dispatch.incidents_changed, [first])  # amy's turn, before the run: it goes on from there
        [(key, data)] = await published(uow)
        assert (key, data["assignee"]) == (first[1].incident_id, "amy")

        quicker = opened("printers")  # opened, and assigned by hand in the same run: not dispatched
        run, dispatched = [], []
        for i in range(RUN - 2):
            if i % 4 == 3:
                run.append(opened("network"))  # no rule matches: left alone
            elif i % 7 == 5:
                run.append(opened(group="printing"))  # a group given: its method picks the person, a turn too
                dispatched.append((run[-1][1].incident_id, None))
            elif i % 11 == 6:
                run.append(opened("printers", group="printing", assignee="bea"))  # assigned already
            else:
                run.append(opened("printers"))
                dispatched.append((run[-1][1].incident_id, "printers"))
            if i == 50:
                run.extend([quicker, assigned(quicker[1].incident_id, "printing", "bea")])

        sent = await apply(uow, dispatch.incidents_changed, run)

        # Open work put and changed, the rules' generation, the group locked, its members, the turn written, the
        # decisions, the open work they give, the events staged.
        assert len(sent.statements) <= 10, sent
        turns = itertools.cycle(["amy", "cal", "dan"])  # the active members in the stable order; bea is inactive
        next(turns)  # amy had the last turn
        expected = [(record_id, next(turns), by_rule) for record_id, by_rule in dispatched]
        events = (await published(uow))[1:]
        assert [(key, d["assignee"], d["dispatch_rule"]) for key, d in events] == expected
        assert {d["assignment_group"] for _, d in events} == {"printing"}
        assert {d["method"] for _, d in events} == {"round_robin"}
        async with uow:
            decisions = {r.record_id: (r.assignee, r.dispatch_rule) for r in (await uow.session.execute(
                select(dispatch_decisions).where(dispatch_decisions.c.record_id != first[1].incident_id))).all()}
            work = dict((await uow.session.execute(select(open_work.c.record_id, open_work.c.assignee))).all())
        assert decisions == {record_id: (assignee, by_rule) for record_id, assignee, by_rule in expected}
        assert all(work[record_id] == assignee for record_id, assignee, _ in expected)
        assert work[quicker[1].incident_id] == "bea"
        assert await scalar(uow, select(dispatch_groups.c.last_assignee)) == expected[-1][1]


def script(tag: str) -> tuple[list[tuple], list[tuple]]:
    """Work kept before, then a run for the teams of `tag`: least loaded (a, b, c) and round robin (c, d, e; c is in
    both, so round robin's turns weigh in least loaded's choices); P1 to P5, rules, a group given, no match, and a
    replayed opening of an incident someone has had since."""
    db, printers, loaded, robin = f"db-{tag}", f"print-{tag}", f"ll-{tag}", f"rr-{tag}"
    known = str(uuid.uuid4())
    before = [opened(db, priority=1, assignee=f"a-{tag}", group=loaded),
              opened(db, priority=2, assignee=f"b-{tag}", group=loaded),
              opened(db, priority=4, incident_id=known, sequence=5, group=loaded, assignee=f"b-{tag}")]
    run = []
    for i in range(60):
        priority = 1 + i * 7 % 5
        if i % 3 == 0:
            run.append(opened(db, priority=priority))
        elif i % 5 == 1:
            run.append(opened(printers, priority=priority))
        elif i % 7 == 2:
            run.append(opened(group=loaded, priority=priority))
        elif i % 13 == 8:
            run.append(opened(group=robin, priority=priority))
        elif i % 11 == 4:
            run.append(opened("unrouted", priority=priority))
        else:
            run.append(opened(printers if i % 2 else db, priority=priority))
        if i == 30:
            run.append(opened(db, priority=1, incident_id=known, sequence=1))  # older than what is kept: b's
    return before, run


async def teams(uow: UnitOfWork, tag: str) -> None:
    await team(uow, f"ll-{tag}", {f"a-{tag}": True, f"b-{tag}": True, f"c-{tag}": True}, "least_loaded")
    await team(uow, f"rr-{tag}", {f"c-{tag}": True, f"d-{tag}": True, f"e-{tag}": True}, "round_robin")
    await rule(uow, f"db {tag}", f"ll-{tag}", category=[f"db-{tag}"])
    await rule(uow, f"print {tag}", f"rr-{tag}", category=[f"print-{tag}"])


async def test_a_run_decides_as_its_events_one_at_a_time_did(infra):
    """The same script twice, with teams of their own: the run at once (one transaction), then each event in its own
    transaction (what dispatch did per record before): the same people get the same records in the same order."""
    async with requests_database("batched_as_one_by_one") as uow:
        outcomes = {}
        for tag in ("at-once", "one-by-one"):
            await teams(uow, tag)
            before, run = script(tag)
            await apply(uow, dispatch.incidents_changed, before)
            staged = len(await published(uow))
            if tag == "at-once":
                sent = await apply(uow, dispatch.incidents_changed, run)
                # Open work, the rules' generation and the rules, groups, members, loads (incidents, tasks), the
                # run's open work unassigned, turns, decisions, open work given, events.
                assert len(sent.statements) <= 12, sent
            else:
                for one in run:
                    await apply(uow, dispatch.incidents_changed, [one])
            order = {d.incident_id: n for n, (_, d) in enumerate(run)}
            outcomes[tag] = [(order[key], d["assignment_group"].replace(tag, "*"),
                              d["assignee"] and d["assignee"].replace(tag, "*"),
                              d["dispatch_rule"] and d["dispatch_rule"].replace(tag, "*"), d["method"])
                             for key, d in (await published(uow))[staged:]]
        assert outcomes["at-once"] == outcomes["one-by-one"]
        given = [assignee for _, group, assignee, _, _ in outcomes["at-once"] if group == "ll-*"]
        assert set(given) == {"a-*", "b-*", "c-*"} and len(given) > 30  # least loaded had choices to make


async def test_a_template_s_many_tasks_are_dispatched_in_turn_with_one_read(infra):
    """A work-order template's tasks (issue 17) are decided together: the group locked and its members read once,
    round robin's turns given in order and written once, the decisions kept in one statement."""
    from itsm_requests.domain.flows import TaskSpec
    from itsm_requests.handlers.tasks import open_standalone_tasks

    async with requests_database("template_tasks") as uow:
        await team(uow, "desk", {"ann": True, "bob": True, "cid": True}, "round_robin")
        specs = [TaskSpec(name=f"step {n}", assignment_group="desk") for n in range(30)]

        async def template(unit: UnitOfWork, _run: list) -> None:
            await open_standalone_tasks(unit, "incident", str(uuid.uuid4()), specs, template="rollout", actor="ann")

        sent = await apply(uow, template, [])
        async with uow:
            given = (await uow.session.execute(select(tasks.c.assignee).order_by(tasks.c.number))).scalars().all()
        kept = [row["assignee"] for row in await decisions(uow)]

        assert given == ["ann", "bob", "cid"] * 10  # each member in turn, in the tasks' order, as one at a time did
        assert sorted(kept) == sorted(given)
        # Not one per task: the decisions go by one COPY (itsm_kit.db.insert_rows), which the driver runs unseen here.
        inserts = [s for s in sent.statements if "dispatch_decisions" in s and s.lstrip().startswith("INSERT")]
        assert not inserts, sent
        assert len([s for s in sent.statements if "dispatch_groups" in s]) <= 2, sent  # locked once, turn written once


async def decisions(uow: UnitOfWork) -> list[dict]:
    async with uow:
        return [dict(r._mapping) for r in (await uow.session.execute(select(dispatch_decisions))).all()]
