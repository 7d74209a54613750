"""SLA timer rules, step by step, with no database and no broker; properties of the engine."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from itsm_contracts.events.sla import SlaBreached, SlaMet, SlaTimerStarted, SlaWarning
from itsm_sla.domain import Engine, Library, Segment, Stage, Timer, arrive, default_definitions, steps
from itsm_sla.domain.calendar import ALWAYS, WEEKDAYS, Calendar
from itsm_sla.domain.definitions import AppliesTo, Definition, Goal
from itsm_sla.domain.history import Fact

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday
INCIDENT = "inc-1"
_ids = itertools.count(1)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def opened(priority: int = 3, at: float = 0, **fields) -> Fact:
    return Fact(f"e{next(_ids)}", minutes(at), {"state": "new", "priority": priority, "opened_at": minutes(at),
                                                 **fields}, opens=True)


def moved(state: str, at: float, hold_reason: str | None = None) -> Fact:
    return Fact(f"e{next(_ids)}", minutes(at), {"state": state, "hold_reason": hold_reason})


def reprioritized(priority: int, at: float) -> Fact:
    return Fact(f"e{next(_ids)}", minutes(at), {"priority": priority})


def assigned(at: float, assignee: str | None = None, group: str | None = None) -> Fact:
    return Fact(f"e{next(_ids)}", minutes(at), {"assignee": assignee, "assignment_group": group})


def updated(at: float, **changes) -> Fact:
    return Fact(f"e{next(_ids)}", minutes(at), changes)


def library(*definitions: Definition, calendars: dict[str, Calendar] | None = None, defaults: bool = True,
            ci_classes: dict[str, str] | None = None) -> Library:
    lib = Library(ci_classes=dict(ci_classes or {}))
    for d in (*(default_definitions() if defaults else ()), *definitions):
        lib.definitions[(d.id, d.version)] = d
        lib.current[d.id] = max(lib.current.get(d.id, 0), d.version)
    for calendar_id, calendar in (calendars or {}).items():
        version = lib.current_calendars.get(calendar_id, 0) + 1
        lib.calendars[(calendar_id, version)] = calendar
        lib.current_calendars[calendar_id] = version
    return lib


def definition(id: str = "custom", version: int = 1, *, response=None, resolution=None, **fields) -> Definition:
    goals = []
    for kind, spec in (("response", response), ("resolution", resolution)):
        if spec is not None:
            target, conditions = (spec, {}) if isinstance(spec, timedelta) else spec
            goals.append(Goal.create(kind, target, **conditions))
    applies = fields.pop("applies_to", {})
    return Definition.create(id=id, version=version, name=fields.pop("name", id), goals=goals,
                             applies_to=AppliesTo(**{k: frozenset(v) for k, v in applies.items()}), **fields)


def run(*facts: Fact, lib: Library | None = None, timers: list[Timer] | None = None) -> list[Timer]:
    """The timers the facts give, applied one step at a time as the consumer does."""
    history = steps(facts)
    timers = [] if timers is None else timers
    engine = Engine(lib or library())
    for i in range(len(history)):
        engine.advance(INCIDENT, timers, history, i)
    return timers


def only(timers: list[Timer], kind: str, definition_id: str | None = None, stage: str | None = None) -> Timer:
    [found] = [t for t in timers if t.kind == kind and (definition_id is None or t.definition_id == definition_id)
               and (stage is None or t.stage == stage)]
    return found


def raised(timer: Timer) -> list[str]:
    return [type(e).__name__ for _, e in timer.events]


HOUR = timedelta(hours=1)
P1, P3, P4 = "default-p1", "default-p3", "default-p4"


# -- start ------------------------------------------------------------------------------------

def test_an_opened_incident_gets_the_response_and_resolution_timers_of_its_priority():
    timers = run(opened(priority=1))
    assert sorted((t.definition_id, t.kind) for t in timers) == [(P1, "resolution"), (P1, "response")]
    response, resolution = only(timers, "response"), only(timers, "resolution")
    assert response.due_at == T0 + timedelta(minutes=15) and resolution.due_at == T0 + 4 * HOUR
    assert response.stage is Stage.IN_PROGRESS and response.policy == "P1 Critical" and response.cycle == 1
    [(seq, started)] = response.events
    assert seq == 1 and isinstance(started, SlaTimerStarted) and started.due_at == response.due_at


def test_timer_ids_are_the_same_for_the_same_history():
    first, again = run(opened(priority=2)), run(opened(priority=2))
    assert [t.id for t in first] == [t.id for t in again]


def test_a_definition_whose_stop_holds_at_the_start_never_attaches():
    timers = run(opened(priority=3, assignee="alice"))
    assert [t.kind for t in timers] == ["resolution"]  # someone was assigned from the start: no response clock


# -- stop ------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["in_progress", "on_hold", "resolved"])
def test_response_stops_when_someone_picks_the_incident_up(state):
    timers = run(opened(priority=3), moved(state, 30, "awaiting_vendor" if state == "on_hold" else None))
    response = only(timers, "response")
    assert response.stage is Stage.COMPLETED and response.stopped_at == minutes(30) and not response.breached
    assert raised(response)[-2:] == ["SlaTimerStopped", "SlaMet"]


def test_response_stops_on_the_first_assignment_of_a_person():
    timers = run(opened(priority=3), assigned(5, group="network"), assigned(20, assignee="bob", group="network"))
    response = only(timers, "response")
    assert response.stopped_at == minutes(20)


def test_resolution_stops_on_resolved_met_before_due_and_breached_after():
    met = only(run(opened(priority=1), moved("resolved", 239)), "resolution")
    late = only(run(opened(priority=1), moved("resolved", 241)), "resolution")
    assert met.stage is Stage.COMPLETED and not met.breached
    assert late.stage is Stage.COMPLETED and late.breached and late.breached_at == T0 + 4 * HOUR
    assert isinstance(met.events[-1][1], SlaMet) and raised(late)[-1] == "SlaTimerStopped"
    assert late.events[-1][1].outcome == "breached"


def test_a_completed_timer_stays_completed():
    timers = run(opened(priority=1), moved("in_progress", 5), moved("on_hold", 10, "awaiting_caller"),
                 moved("in_progress", 20))
    response = only(timers, "response")
    assert response.stopped_at == minutes(5) and raised(response) == ["SlaTimerStarted", "SlaTimerStopped", "SlaMet"]


# -- cancel ----------------------------------------------------------------------------------

def test_a_canceled_incident_cancels_its_open_timers():
    timers = run(opened(priority=1), moved("in_progress", 5), moved("canceled", 30))
    assert only(timers, "response").stage is Stage.COMPLETED
    resolution = only(timers, "resolution")
    assert resolution.stage is Stage.CANCELLED and resolution.stopped_at == minutes(30)
    assert resolution.events[-1][1].outcome == "cancelled" and resolution.next_alarm_at is None


# -- pause and resume -------------------------------------------------------------------------

def test_on_hold_pauses_resolution_and_the_hold_pushes_the_due_time_by_its_length():
    hold, back = moved("on_hold", 60, "awaiting_caller"), moved("in_progress", 150)
    timers = run(opened(priority=1), moved("in_progress", 10), hold, back)
    resolution = only(timers, "resolution")
    assert resolution.stage is Stage.IN_PROGRESS
    assert resolution.due_at == T0 + 4 * HOUR + timedelta(minutes=90)
    assert [(s.state, s.start, s.end, s.start_event, s.end_event) for s in resolution.segments] == [
        ("running", T0, minutes(60), resolution.segments[0].start_event, hold.event_id),
        ("paused", minutes(60), minutes(150), hold.event_id, back.event_id),
        ("running", minutes(150), None, back.event_id, None),
    ]
    assert resolution.segments[1].reason == "in_progress -> on_hold (awaiting_caller)"
    assert raised(resolution) == ["SlaTimerStarted", "SlaTimerPaused", "SlaTimerResumed"]
    assert resolution.events[-1][1].due_at == resolution.due_at


def test_a_paused_timer_has_no_due_time_stored_and_projects_one_from_now():
    timers = run(opened(priority=1), moved("on_hold", 60, "awaiting_vendor"))
    resolution = only(timers, "resolution")
    assert resolution.stage is Stage.PAUSED and resolution.due_at is None and resolution.next_alarm_at is None
    now = minutes(100)
    assert resolution.elapsed(ALWAYS, now) == HOUR
    assert resolution.due(ALWAYS, now) == now + 3 * HOUR
    assert resolution.percent(ALWAYS, now) == 25.0
    assert resolution.paused_for(now) == timedelta(minutes=40)


# -- reopen -------------------------------------------------------------------------------------

def test_a_reopen_resumes_resolution_without_counting_the_time_it_was_resolved():
    resolve, reopen = moved("resolved", 60), moved("in_progress", 180)
    timers = run(opened(priority=1), moved("in_progress", 10), resolve, reopen)
    resolution = only(timers, "resolution")
    assert resolution.stage is Stage.IN_PROGRESS and resolution.stopped_at is None
    assert [s.state for s in resolution.segments] == ["running", "stopped", "running"]
    stopped = resolution.segments[1]
    assert stopped.start_event == resolve.event_id and stopped.end_event == reopen.event_id
    assert resolution.due_at == T0 + 4 * HOUR + 2 * HOUR
    assert raised(resolution)[-1] == "SlaTimerResumed"
    assert only(timers, "response").stage is Stage.COMPLETED  # response is first response: it stays done


def test_reopen_can_reset_instead_a_new_cycle_from_the_reopen():
    reset = definition("reset", resolution=(HOUR, {"on_reopen": "reset"}), applies_to={"categories": ["db"]})
    timers = run(opened(priority=3, category="db"), moved("resolved", 30), moved("in_progress", 90),
                 lib=library(reset))
    first = only(timers, "resolution", "reset", stage="completed")
    second = only(timers, "resolution", "reset", stage="in_progress")
    assert (first.cycle, second.cycle) == (1, 2) and first.id != second.id
    assert second.started_at == minutes(90) and second.due_at == minutes(150)


# -- reset on reassignment ----------------------------------------------------------------------

def test_reassignment_to_another_group_can_reset_the_clock_per_group():
    ola = definition("ola", resolution=(2 * HOUR, {"reset_on_reassignment": True}),
                     applies_to={"business_services": ["erp"]})
    timers = run(opened(priority=3, business_service="erp", assignment_group="desk"),
                 assigned(50, group="sap-team"), lib=library(ola))
    first = only(timers, "resolution", "ola", stage="completed")
    second = only(timers, "resolution", "ola", stage="in_progress")
    assert first.stopped_at == minutes(50) and not first.breached
    assert second.started_at == minutes(50) and second.due_at == minutes(170) and second.cycle == 2
    # the first assignment of a group is not a reassignment
    timers = run(opened(priority=3, business_service="erp"), assigned(10, group="desk"), lib=library(ola))
    assert only(timers, "resolution", "ola").cycle == 1


# -- applies to ----------------------------------------------------------------------------------

def test_every_matching_definition_attaches_its_timers():
    gold = definition("gold", resolution=2 * HOUR, applies_to={"business_services": ["payments"]})
    timers = run(opened(priority=3, business_service="payments"), lib=library(gold))
    assert sorted((t.definition_id, t.kind) for t in timers) == [
        (P3, "resolution"), (P3, "response"), ("gold", "resolution")]
    assert run(opened(priority=3, business_service="crm"), lib=library(gold))[0].definition_id == P3


@pytest.mark.parametrize(
    ("applies_to", "fields", "matches"),
    [
        ({"categories": ["network"]}, {"category": "network"}, True),
        ({"categories": ["network"]}, {"category": "database"}, False),
        ({"ci_classes": ["server"]}, {"affected_ci": "web-1"}, True),  # by name
        ({"ci_classes": ["server"]}, {"affected_ci": "ci-42"}, True),  # by id
        ({"ci_classes": ["database"]}, {"affected_ci": "web-1"}, False),
        ({"ci_classes": ["server"]}, {}, False),
        ({"priorities": [3], "categories": ["network"]}, {"category": "network"}, True),
        ({"priorities": [1], "categories": ["network"]}, {"category": "network"}, False),
    ],
)
def test_applies_to_conditions_all_hold_any_listed_value_matches(applies_to, fields, matches):
    custom = definition("custom", resolution=HOUR, applies_to=applies_to)
    timers = run(opened(priority=3, **fields), lib=library(custom, ci_classes={"web-1": "server", "ci-42": "server"}))
    assert any(t.definition_id == "custom" for t in timers) is matches


def test_a_later_change_of_service_attaches_the_definition_retroactively():
    gold = definition("gold", resolution=2 * HOUR, applies_to={"business_services": ["payments"]})
    timers = run(opened(priority=3), moved("on_hold", 10, "awaiting_caller"), moved("in_progress", 40),
                 updated(60, business_service="payments"), lib=library(gold))
    gold_timer = only(timers, "resolution", "gold")
    assert gold_timer.started_at == T0 and gold_timer.attached_at == minutes(60)
    assert gold_timer.due_at == T0 + 2 * HOUR + timedelta(minutes=30)


def test_an_inactive_definition_attaches_nothing_but_its_open_timers_run_on():
    custom = definition("custom", resolution=HOUR, applies_to={"categories": ["db"]})
    lib = library(custom)
    timers = run(opened(priority=3, category="db"), lib=lib)
    retired = definition("custom", version=2, resolution=HOUR, applies_to={"categories": ["db"]}, active=False)
    lib = library(custom, retired)
    assert not any(t.definition_id == "custom" for t in run(opened(priority=3, category="db"), lib=lib))
    history = steps([opened(priority=3, category="db"), moved("resolved", 30)])
    Engine(lib).advance(INCIDENT, timers, history, 1)
    assert only(timers, "resolution", "custom").stage is Stage.COMPLETED


# -- priority changes: cancel and retroactive attach ------------------------------------------------

def test_a_new_priority_cancels_the_old_timers_and_attaches_the_new_ones_from_the_opening():
    hold, back, change = moved("on_hold", 30, "awaiting_caller"), moved("in_progress", 60), reprioritized(1, 90)
    timers = run(opened(priority=4), hold, back, change)
    old = only(timers, "resolution", P4)
    assert old.stage is Stage.CANCELLED and old.stopped_at == minutes(90)
    assert old.segments[-1].end_reason == "priority 4 -> 1: the definition no longer applies"
    new = only(timers, "resolution", P1)
    assert new.stage is Stage.IN_PROGRESS and new.started_at == T0 and new.attached_at == minutes(90)
    # the pause before the change counts for the new timer too (retroactive pause)
    assert [(s.state, s.start_event) for s in new.segments] == [
        ("running", new.segments[0].start_event), ("paused", hold.event_id), ("running", back.event_id)]
    assert new.due_at == T0 + 4 * HOUR + timedelta(minutes=30)
    # response was met under P4 before the change; P1's response does not attach (its stop holds)
    assert only(timers, "response", P4).stage is Stage.COMPLETED
    assert not [t for t in timers if t.kind == "response" and t.definition_id == P1]


def test_a_retroactive_timer_already_past_its_target_is_due_in_the_past():
    timers = run(opened(priority=4), reprioritized(1, 300))
    new = only(timers, "resolution", P1)
    assert new.due_at == T0 + 4 * HOUR < minutes(300)
    assert new.next_alarm_at == T0 + 2 * HOUR  # the scheduler picks it up at once


def test_priority_back_and_forth_attaches_a_new_cycle():
    timers = run(opened(priority=4), reprioritized(1, 10), reprioritized(4, 20))
    p4 = sorted((t for t in timers if t.definition_id == P4 and t.kind == "resolution"), key=lambda t: t.cycle)
    assert [(t.cycle, t.stage) for t in p4] == [(1, Stage.CANCELLED), (2, Stage.IN_PROGRESS)]
    assert p4[1].started_at == T0
    assert only(timers, "resolution", P1).stage is Stage.CANCELLED


def test_open_timers_follow_the_incident_priority_and_service_for_reports():
    gold = definition("gold", resolution=2 * HOUR, applies_to={"categories": ["x"]})
    timers = run(opened(priority=3, category="x"), updated(5, business_service="erp"), lib=library(gold))
    assert only(timers, "resolution", "gold").business_service == "erp"


# -- business calendars ---------------------------------------------------------------------------

def test_a_definition_on_a_business_calendar_is_due_in_business_time():
    office = Calendar.create("Europe/Paris", {d: [("09:00", "17:00")] for d in WEEKDAYS[:5]})
    custom = definition("office", resolution=8 * HOUR, calendar_id="cal-1", applies_to={"categories": ["hr"]})
    friday_4pm_paris = datetime(2026, 11, 27, 15, tzinfo=UTC)
    facts = [Fact("o", friday_4pm_paris, {"state": "new", "priority": 3, "opened_at": friday_4pm_paris,
                                          "category": "hr"}, opens=True)]
    timer = only(run(*facts, lib=library(custom, calendars={"cal-1": office})), "resolution", "office")
    assert timer.calendar_id == "cal-1" and timer.calendar_version == 1
    assert timer.due_at == datetime(2026, 11, 30, 15, tzinfo=UTC)  # Monday 16:00 Paris


# -- the scheduler's announcements ---------------------------------------------------------------

def test_warnings_at_each_threshold_then_the_breach_each_once():
    [resolution] = [t for t in run(opened(priority=1)) if t.kind == "resolution"]
    resolution.events.clear()
    assert resolution.next_alarm_at == T0 + 2 * HOUR
    assert resolution.alarm(ALWAYS, T0 + HOUR) is None
    fired = []
    for percent in (50, 75, 90, 100):
        at = T0 + 4 * HOUR * percent / 100
        assert resolution.next_alarm_at == at
        fired.append(resolution.alarm(ALWAYS, at))
        assert resolution.alarm(ALWAYS, at) is None  # announced once
    assert [type(e).__name__ for e in fired] == ["SlaWarning"] * 3 + ["SlaBreached"]
    assert [e.threshold for e in fired[:3]] == [50, 75, 90]
    breach = fired[-1]
    assert breach.breached_at == T0 + 4 * HOUR and breach.due_at == breach.breached_at
    assert resolution.breached and resolution.notified_percent == 100 and resolution.next_alarm_at is None
    assert resolution.stage is Stage.IN_PROGRESS  # it runs on to its stop


def test_catching_up_after_an_outage_announces_only_the_highest_threshold_crossed():
    [resolution] = [t for t in run(opened(priority=1)) if t.kind == "resolution"]
    event = resolution.alarm(ALWAYS, T0 + 5 * HOUR)
    assert isinstance(event, SlaBreached) and event.detected_at == T0 + 5 * HOUR
    assert event.breached_at == T0 + 4 * HOUR
    [other] = [t for t in run(opened(priority=1)) if t.kind == "resolution"]
    warning = other.alarm(ALWAYS, T0 + 3 * HOUR + timedelta(minutes=10))
    assert isinstance(warning, SlaWarning) and warning.threshold == 75
    assert other.next_alarm_at == T0 + 3 * HOUR + timedelta(minutes=36)  # 90%


def test_a_timer_stopped_after_its_due_time_unannounced_still_gets_its_breach_announced_once():
    timers = run(opened(priority=1), moved("in_progress", 1), moved("resolved", 300))
    resolution = only(timers, "resolution")
    assert resolution.breached and resolution.notified_percent == 0
    assert resolution.next_alarm_at == T0 + 4 * HOUR
    assert isinstance(resolution.alarm(ALWAYS, minutes(301)), SlaBreached)
    assert resolution.next_alarm_at is None and resolution.alarm(ALWAYS, minutes(400)) is None


def test_a_timer_met_in_time_and_a_cancelled_one_have_nothing_to_announce():
    met = only(run(opened(priority=1), moved("resolved", 30)), "resolution")
    cancelled = only(run(opened(priority=1), moved("canceled", 300)), "resolution")
    assert met.next_alarm_at is None and cancelled.next_alarm_at is None
    assert met.alarm(ALWAYS, minutes(999)) is None


def test_a_threshold_crossed_before_a_pause_is_announced_while_paused():
    timers = run(opened(priority=1), moved("in_progress", 1), moved("on_hold", 150, "awaiting_vendor"))
    resolution = only(timers, "resolution")
    assert resolution.next_alarm_at == T0 + 2 * HOUR
    event = resolution.alarm(ALWAYS, minutes(200))
    assert isinstance(event, SlaWarning) and event.threshold == 50
    assert resolution.next_alarm_at is None  # 75% is not reached while paused


# -- explanation and storage ------------------------------------------------------------------------

def test_segments_survive_a_round_trip_to_json():
    timers = run(opened(priority=1), moved("on_hold", 5, "awaiting_caller"), moved("in_progress", 9))
    for t in timers:
        assert [Segment.from_json(s.to_json()) for s in t.segments] == t.segments


def test_an_event_stamped_earlier_than_the_one_before_counts_as_happening_with_it():
    timers = run(opened(priority=1, at=10), moved("on_hold", 5, "awaiting_caller"))
    resolution = only(timers, "resolution")
    assert resolution.segments[0].end == minutes(10) and resolution.elapsed(ALWAYS, minutes(60)) == timedelta(0)


def test_facts_before_the_opening_and_a_second_opening_are_ignored():
    first = opened(priority=1)
    history = steps([moved("in_progress", -5), first, opened(priority=5, at=3), moved("resolved", 10)])
    assert [s.fact for s in history][0] is first and len(history) == 2
    assert history[-1].after.priority == 1 and history[-1].after.state == "resolved"


# -- arrival order ------------------------------------------------------------------------------------

def numbered(*facts: Fact) -> list[Fact]:
    """The facts as the incidents service numbered them: each one's sequence is its place."""
    return [dataclasses.replace(f, sequence=n) for n, f in enumerate(facts, start=1)]


def arriving(*facts: Fact, lib: Library | None = None) -> list[Timer]:
    """The timers the facts give taken in the order they arrive, each placed by its sequence (the consumer's way)."""
    known: list[Fact] = []
    timers: list[Timer] = []
    engine = Engine(lib or library())
    for fact in facts:
        arrival = arrive(known, fact)
        known = arrival.facts
        engine.take(INCIDENT, timers, arrival, now=minutes(10_000))
    return timers


def test_facts_that_arrive_before_their_opening_apply_once_it_arrives():
    o, hold, back, p1 = numbered(opened(priority=3), moved("on_hold", 10, "awaiting_caller"), moved("in_progress", 40),
                                 reprioritized(1, 50))
    late_opening = arriving(hold, back, o, p1)
    assert late_opening == run(o, hold, back, p1)
    assert [s.state for s in only(late_opening, "resolution", P1).segments] == ["running", "paused", "running"]


def test_a_fact_older_than_steps_already_applied_replays_the_history():
    o, start, hold, back = numbered(opened(priority=3), moved("in_progress", 5),
                                    moved("on_hold", 10, "awaiting_caller"), moved("in_progress", 40))
    late_hold = only(arriving(o, start, back, hold), "resolution")
    in_order = only(run(o, start, hold, back), "resolution")
    assert [s.state for s in late_hold.segments] == ["running", "paused", "running"]
    assert (late_hold.segments, late_hold.due_at, late_hold.stage) == (in_order.segments, in_order.due_at,
                                                                       in_order.stage)
    assert raised(late_hold)[-1] == "SlaTimerRepaired"  # what changed is announced, as a repair does


# -- repair -------------------------------------------------------------------------------------------

def test_a_replay_with_nothing_changed_repairs_nothing():
    facts = [opened(priority=1), moved("on_hold", 10, "awaiting_caller"), moved("in_progress", 40),
             reprioritized(2, 50)]
    stored = run(*facts)
    outcome = Engine(library()).rebuild(INCIDENT, stored, steps(facts), now=minutes(60))
    assert outcome.timers == []


def test_repair_applies_a_new_target_keeping_every_pause_and_leaves_closed_timers_alone():
    facts = [opened(priority=1, category="db"), moved("in_progress", 5), moved("on_hold", 10, "awaiting_caller"),
             moved("in_progress", 40)]
    v1 = definition("custom", resolution=HOUR, applies_to={"categories": ["db"]})
    stored = run(*facts, lib=library(v1))
    custom = only(stored, "resolution", "custom")
    custom.notified_percent = 50  # the scheduler had announced 50%
    assert custom.due_at == minutes(90)
    v2 = definition("custom", version=2, resolution=2 * HOUR, applies_to={"categories": ["db"]})
    outcome = Engine(library(v1, v2)).rebuild(INCIDENT, stored, steps(facts), now=minutes(60))
    [changed] = outcome.changed
    assert changed.id == custom.id and changed.definition_version == 2 and changed.target == 2 * HOUR
    assert changed.due_at == minutes(150)  # 2 h counted from the opening, less the 30 min on hold
    assert changed.notified_percent == 50 and changed.segments == custom.segments
    assert raised(changed) == ["SlaTimerRepaired"]
    assert outcome.started == [] and outcome.cancelled == []  # response (completed) untouched


def test_repair_after_a_calendar_change_moves_open_timers_to_the_new_hours():
    office = Calendar.create("UTC", {d: [("09:00", "17:00")] for d in WEEKDAYS[:5]})
    longer = Calendar.create("UTC", {d: [("08:00", "20:00")] for d in WEEKDAYS[:5]})
    custom = definition("office", resolution=10 * HOUR, calendar_id="cal", applies_to={"categories": ["hr"]})
    facts = [opened(priority=3, category="hr")]
    lib = library(custom, calendars={"cal": office})
    stored = run(*facts, lib=lib)
    assert only(stored, "resolution", "office").due_at == datetime(2026, 11, 25, 11, tzinfo=UTC)
    lib.calendars[("cal", 2)], lib.current_calendars["cal"] = longer, 2
    [changed] = Engine(lib).rebuild(INCIDENT, stored, steps(facts), now=minutes(30)).changed
    assert changed.calendar_version == 2 and changed.due_at == datetime(2026, 11, 24, 19, tzinfo=UTC)


def test_repair_cancels_an_open_timer_no_definition_gives_any_more():
    facts = [opened(priority=3, category="db")]
    v1 = definition("custom", resolution=HOUR, applies_to={"categories": ["db"]})
    v2 = definition("custom", version=2, resolution=HOUR, applies_to={"categories": ["network"]})
    stored = run(*facts, lib=library(v1))
    outcome = Engine(library(v1, v2)).rebuild(INCIDENT, stored, steps(facts), now=minutes(5))
    [cancelled] = outcome.cancelled
    assert cancelled.definition_id == "custom" and cancelled.stage is Stage.CANCELLED


# -- properties -------------------------------------------------------------------------------------

LIFECYCLE = {"new": ["in_progress", "on_hold", "resolved", "canceled"],
             "in_progress": ["on_hold", "resolved", "canceled"], "on_hold": ["in_progress", "resolved", "canceled"],
             "resolved": ["in_progress", "closed"], "closed": [], "canceled": []}


@st.composite
def histories(draw) -> list[Fact]:
    """A plausible incident history: lifecycle moves, priority changes, assignments, minutes apart."""
    state, at = "new", 0.0
    facts = [opened(priority=draw(st.integers(1, 5)), category=draw(st.sampled_from([None, "db"])))]
    for _ in range(draw(st.integers(0, 12))):
        at += draw(st.integers(0, 300))
        kind = draw(st.sampled_from(["move", "move", "move", "priority", "assign", "service"]))
        if kind == "move" and LIFECYCLE[state]:
            state = draw(st.sampled_from(LIFECYCLE[state]))
            facts.append(moved(state, at, "awaiting_caller" if state == "on_hold" else None))
        elif kind == "priority":
            facts.append(reprioritized(draw(st.integers(1, 5)), at))
        elif kind == "assign":
            facts.append(assigned(at, assignee=draw(st.sampled_from([None, "ann"])),
                                  group=draw(st.sampled_from([None, "desk", "dba"]))))
        else:
            facts.append(updated(at, business_service=draw(st.sampled_from([None, "erp"]))))
    return facts


EXTRA = [definition("ola", resolution=(2 * HOUR, {"reset_on_reassignment": True}),
                    applies_to={"business_services": ["erp"]}),
         definition("db", resolution=(HOUR, {"on_reopen": "reset"}), response=timedelta(minutes=10),
                    applies_to={"categories": ["db"]})]
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(histories())
def test_the_timers_are_the_same_step_by_step_as_replayed_at_once(facts):
    lib = library(*EXTRA)
    stored = run(*facts, lib=lib)
    # Storing and reloading between steps changes nothing, and replaying the history repairs nothing.
    outcome = Engine(lib).rebuild(INCIDENT, stored, steps(facts), now=minutes(10_000))
    assert outcome.timers == []
    for t in stored:
        assert t.segments[0].start == t.started_at
        assert all(a.end == b.start for a, b in zip(t.segments, t.segments[1:]))
        assert all(s.end is not None for s in t.segments[:-1])
        assert (t.segments[-1].end is None) == t.is_open
        assert t.elapsed(ALWAYS, minutes(10_000)) >= timedelta(0)


@PROPERTY
@given(histories())
def test_whatever_arrives_before_the_opening_is_applied_as_if_in_order(facts):
    lib = library(*EXTRA)
    facts = numbered(*facts)
    assert arriving(*facts[1:], facts[0], lib=lib) == run(*facts, lib=lib)


@PROPERTY
@given(st.integers(1, 5), st.lists(st.tuples(st.integers(0, 600), st.integers(0, 600)), max_size=5))
def test_pauses_only_push_the_due_time_later(priority, holds):
    """Holds anywhere in the timer's life: the due time is never earlier than without them, and on
    24x7 it is later by exactly the held time before it."""
    facts, at = [opened(priority=priority), moved("in_progress", 0)], 0.0
    for gap, length in holds:
        at += gap
        facts.append(moved("on_hold", at, "awaiting_vendor"))
        at += length
        facts.append(moved("in_progress", at))
    without = only(run(opened(priority=priority), moved("in_progress", 0)), "resolution").due_at
    timer = only(run(*facts), "resolution")
    assert timer.due_at >= without
    held_before_due = sum((min(s.end, timer.due_at) - s.start for s in timer.segments
                           if s.state == "paused" and s.start < timer.due_at), timedelta(0))
    assert timer.due_at == without + held_before_due
