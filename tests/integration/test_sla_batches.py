"""The sla batch handlers against the real sla database: a run at once is the same as one by one.

The same script of incident events goes through the handlers twice, each time with its own
incidents: one event per transaction through `one` (the consumer's isolation path), and
in transactions of many events, consecutive events of one handler through `many` (what
the consumer does while nothing fails; every incident event type shares one handler).
Timers and staged events must come out the same, up to the ids each run generates.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from itsm_contracts import CloudEvent, envelope
from itsm_contracts.events.incidents import IncidentOpened, IncidentPriorityChanged, IncidentStateChanged
from itsm_kit import context
from itsm_kit.db import outbox
from itsm_kit.outbox import Outbox
from itsm_kit.runtime import Runtime
from itsm_sla import consumers
from itsm_sla.store import timers
from tests.helpers import service_sessions

pytestmark = pytest.mark.integration

# In the future: the running platform's SLA scheduler shares this database, and would otherwise announce
# these timers' breaches (and write them) between the two runs, sooner for the first run's timers.
T0 = datetime(2027, 11, 25, 9, 0, tzinfo=UTC)
INCIDENTS = "abcde"


@pytest.fixture
async def sessions(platform):
    async with service_sessions("sla") as sessions:
        yield sessions


def opened(i, priority, at=T0):
    return IncidentOpened(incident_id=i, number=f"INC-{i[:8]}", short_description="sla batch", state="new",
                          impact=2, urgency=2, priority=priority, origin="monitoring", opened_at=at)


def moved(i, from_state, to_state, minutes):
    return IncidentStateChanged(incident_id=i, from_state=from_state, to_state=to_state,
                                changed_at=T0 + timedelta(minutes=minutes))


def reprioritized(i, from_priority, to_priority, minutes):
    return IncidentPriorityChanged(incident_id=i, from_priority=from_priority, to_priority=to_priority, impact=1,
                                   urgency=1, changed_at=T0 + timedelta(minutes=minutes))


def script(ids: dict[str, str]) -> list[list]:
    """Two consumer batches of incident events, for the incidents named a..e."""
    a, b, c, d, e = (ids[n] for n in INCIDENTS)
    day = 24 * 60
    return [
        [
            opened(a, 3), opened(b, 2), opened(c, 1), opened(a, 3), opened(d, 4),  # a's opened twice in one run
            reprioritized(b, 2, 1, 1), reprioritized(b, 1, 3, 2), reprioritized(a, 3, 2, 3),
            moved(a, "new", "in_progress", 10), moved(b, "new", "in_progress", 20),
            moved(a, "in_progress", "on_hold", 25), moved(a, "on_hold", "in_progress", 28),
            moved(c, "new", "canceled", 30), moved(d, "new", "on_hold", 60),
            moved(a, "in_progress", "resolved", 120), moved(b, "in_progress", "resolved", 300),
            moved(a, "resolved", "resolved", 130),  # a resolved twice: the second changes nothing
            reprioritized(d, 4, 1, 61), reprioritized(c, 1, 2, 62),
            moved(d, "on_hold", "resolved", 360),
        ],
        [
            opened(a, 3), opened(e, 5), opened(e, 5),  # a replayed history: a has had its timers for a while
            moved(e, "new", "in_progress", 2 * day),
            moved(e, "in_progress", "resolved", 8 * day),
        ],
    ]


def as_events(batch: list, correlations: dict[str, str]) -> list[tuple[CloudEvent, object]]:
    return [(envelope(data, source="itsm/incidents", subject=data.incident_id, sequence=n,
                      correlationid=correlations.get(data.incident_id)), data)
            for n, data in enumerate(batch, start=1)]


async def run_one_by_one(sessions, handlers, batches) -> None:
    for event, data in itertools.chain.from_iterable(batches):
        context.correlation_id.set(event.correlationid or event.id)  # as the consumer sets them
        context.causation_id.set(event.id)
        async with sessions() as session, session.begin():
            await handlers[event.type].one(session, event, data)


async def run_batched(sessions, handlers, batches) -> None:
    context.correlation_id.set("not-the-cause")  # each staged event must name its own cause
    context.causation_id.set("not-the-cause")
    for batch in batches:
        async with sessions() as session, session.begin():
            for handler, run in itertools.groupby(batch, key=lambda pair: handlers[pair[0].type]):
                await handler.many(session, list(run))


async def snapshot(sessions, names: dict[str, str]) -> tuple[dict, list]:
    """Timers and staged events, with every id this run generated replaced by a name both runs share."""
    async with sessions() as session:
        rows = (await session.execute(select(timers).where(timers.c.incident_id.in_(list(names))))).all()
        for row in rows:
            names[row.id] = f"{names[row.incident_id]}.{row.definition_id}.{row.kind}"
        staged = (await session.execute(select(outbox.c.topic, outbox.c.key, outbox.c.payload)
                                        .where(outbox.c.key.in_([r.id for r in rows])).order_by(outbox.c.id))).all()

    def rename(value):
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    state = {names[r.id]: {k: rename(v) for k, v in r._mapping.items() if k != "id"} for r in rows}
    events = []
    for topic, key, payload in staged:
        event = CloudEvent.from_json(payload)
        events.append((topic, names[key], event.type, event.source, names[event.subject], event.sequence,
                       rename(event.correlationid), rename(event.causationid), rename(event.data)))
    return state, events


async def test_a_run_at_once_has_exactly_the_effects_of_its_events_one_by_one(sessions):
    # What the handlers use of a runtime: its units of work (sessions, outbox) and extras; no server.
    runtime = Runtime(settings=None, engine=None, sessions=sessions, producer=None, outbox=Outbox("itsm/sla"))
    handlers = consumers.event_handlers(runtime)
    results = []
    for run in (run_one_by_one, run_batched):
        ids = {n: str(uuid.uuid4()) for n in INCIDENTS}
        names = {v: k for k, v in ids.items()}
        correlations = {ids["a"]: f"alert-{uuid.uuid4()}", ids["d"]: f"alert-{uuid.uuid4()}"}  # others: none
        names.update({v: f"corr-{names[k]}" for k, v in correlations.items()})
        batches = [as_events(batch, correlations) for batch in script(ids)]
        for batch_no, batch in enumerate(batches):
            for n, (event, _) in enumerate(batch):
                names[event.id] = f"event-{batch_no}.{n}"
        await run(sessions, handlers, batches)
        results.append(await snapshot(sessions, names))

    (one_by_one_timers, one_by_one_events), (batched_timers, batched_events) = results
    assert batched_timers == one_by_one_timers
    assert batched_events == one_by_one_events

    # And what they both did is what the SLA rules say: a priority change cancels the old
    # priority's timers and attaches the new one's from the opening, pauses included.
    summary = {name: (t["stage"], t["breached"]) for name, t in batched_timers.items()}
    p = {n: f"default-p{n}" for n in range(1, 6)}
    assert summary == {
        f"a.{p[3]}.response": ("cancelled", False), f"a.{p[3]}.resolution": ("cancelled", False),
        f"a.{p[2]}.response": ("completed", False), f"a.{p[2]}.resolution": ("completed", False),
        f"b.{p[2]}.response": ("cancelled", False), f"b.{p[2]}.resolution": ("cancelled", False),
        f"b.{p[1]}.response": ("cancelled", False), f"b.{p[1]}.resolution": ("cancelled", False),
        f"b.{p[3]}.response": ("completed", False), f"b.{p[3]}.resolution": ("completed", False),
        f"c.{p[1]}.response": ("cancelled", True), f"c.{p[1]}.resolution": ("cancelled", False),
        f"d.{p[4]}.response": ("completed", False), f"d.{p[4]}.resolution": ("cancelled", False),
        f"d.{p[1]}.resolution": ("completed", False),  # on hold since minute 60: one hour counted of four
        f"e.{p[5]}.response": ("completed", True), f"e.{p[5]}.resolution": ("completed", True),
    }
    d = batched_timers[f"d.{p[1]}.resolution"]
    assert d["started_at"] == T0 and [s["state"] for s in d["segments"]] == ["running", "paused"]
    assert [s["start_event"] for s in d["segments"]] == ["event-0.4", "event-0.13"]  # opened, on hold
    a = batched_timers[f"a.{p[2]}.resolution"]
    assert [s["state"] for s in a["segments"]] == ["running", "paused", "running"]
    kinds = [(key, kind) for _, key, kind, *_ in batched_events]
    assert kinds.count((f"a.{p[2]}.resolution", "itsm.sla.timer_started")) == 1
    assert kinds.count((f"a.{p[2]}.resolution", "itsm.sla.met")) == 1
    by_cause = {(key, cause) for _, key, _, _, _, _, _, cause, _ in batched_events}
    assert (f"a.{p[2]}.resolution", "event-0.14") in by_cause and (f"e.{p[5]}.resolution", "event-1.4") in by_cause
    correlated: dict[str, str] = {}  # each timer's first event's
    for _, key, _, _, _, _, correlation, _, _ in batched_events:
        correlated.setdefault(key, correlation)
    assert correlated[f"a.{p[3]}.response"] == "corr-a" and correlated[f"b.{p[2]}.response"] == "event-0.1"


async def test_a_runs_history_is_kept_in_arrival_order_and_an_event_kept_before_is_not_kept_again(sessions):
    from itsm_sla.store import HistoryRepository

    incident = str(uuid.uuid4())
    events = [envelope(data, source="itsm/incidents", subject=incident, sequence=n) for n, data in enumerate(
        [opened(incident, 3), moved(incident, "new", "in_progress", 5), reprioritized(incident, 3, 2, 9)], start=1)]

    def row(event: CloudEvent) -> dict:
        return {"incident_id": incident, "event_id": event.id, "type": event.type, "dataschema": event.dataschema,
                "sequence": event.sequence, "data": event.data}

    async with sessions() as session, session.begin():
        await HistoryRepository(session).add_many([row(events[0])])
    async with sessions() as session, session.begin():
        await HistoryRepository(session).add_many([row(e) for e in events])  # the first again, then two new ones
    async with sessions() as session:
        kept = (await HistoryRepository(session).of([incident]))[incident]

    assert [(r["event_id"], r["sequence"], r["data"]) for r in kept] == [(e.id, e.sequence, e.data) for e in events]
