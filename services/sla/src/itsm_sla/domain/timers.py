"""SLA timers: how incident steps move them, how long they ran, when they are due. Pure.

A timer is a list of segments, each running, paused or stopped (between a stop and a
reopen), with the incident events that began and ended it: the elapsed time is the business
time of its running segments, and everything else (due time, percent, breach, warnings)
follows from them and the target, so a person can see why the due time is what it is.

The Engine applies one incident step at a time to an incident's timers. Replaying the whole
history through it gives the same timers (that is what repair and retroactive start do).
Stages: in progress, paused, completed (met or breached), cancelled. A breach is a flag and
the instant it happened; the timer keeps running until its stop.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from itsm_contracts.events import EventData
from itsm_contracts.events.sla import (
    SlaBreached, SlaMet, SlaTimerPaused, SlaTimerRepaired, SlaTimerResumed, SlaTimerStarted, SlaTimerStopped,
    SlaWarning, TimerKind,
)
from itsm_kit.domain import RaisesEvents
from itsm_sla.domain.calendar import ALWAYS, Calendar, Clock, NoWorkingTime
from itsm_sla.domain.definitions import ANYTHING, KINDS, Definition, Goal
from itsm_sla.domain.history import Arrival, Step

BREACH = 100
_IDS = uuid.UUID("6f1f3f0e-5a4b-4c1e-9d0a-1b7c2e3d4f50")


class Stage(StrEnum):
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


OPEN = frozenset({Stage.IN_PROGRESS, Stage.PAUSED})
SegmentState = Literal["running", "paused", "stopped"]


def timer_id(incident_id: str, definition_id: str, kind: str, cycle: int) -> str:
    """Deterministic: the same history gives the same timer ids, however often it is replayed."""
    return str(uuid.uuid5(_IDS, f"{incident_id}/{definition_id}/{kind}/{cycle}"))


@dataclass(frozen=True)
class Segment:
    state: SegmentState
    start: datetime
    end: datetime | None
    start_event: str
    end_event: str | None = None
    reason: str = ""  # what began it
    end_reason: str | None = None  # what ended it

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "start": self.start.isoformat(), "end": self.end and self.end.isoformat(),
                "start_event": self.start_event, "end_event": self.end_event, "reason": self.reason,
                "end_reason": self.end_reason}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Segment:
        return cls(value["state"], datetime.fromisoformat(value["start"]),
                   datetime.fromisoformat(value["end"]) if value["end"] else None, value["start_event"],
                   value["end_event"], value.get("reason", ""), value.get("end_reason"))


INCIDENT = "incident"


@dataclass
class Timer(RaisesEvents):
    id: str
    incident_id: str | None  # None for another record's timer (record_type)
    definition_id: str
    definition_version: int
    kind: TimerKind
    cycle: int
    policy: str  # the definition's name, as when the timer attached
    priority: int  # the incident's, while the timer is open
    business_service: str | None
    target: timedelta
    calendar_id: str | None
    calendar_version: int | None
    thresholds: tuple[int, ...]
    escalation_group: str | None
    started_at: datetime
    attached_at: datetime  # when its start condition held; started_at is earlier for a retroactive start
    segments: list[Segment]
    stage: Stage = Stage.IN_PROGRESS
    stopped_at: datetime | None = None
    breached: bool = False
    breached_at: datetime | None = None
    notified_percent: int = 0  # the highest threshold announced (100: the breach)
    # Stored for the scheduler and for queries; refresh() derives them from the segments.
    due_at: datetime | None = None
    next_alarm_at: datetime | None = None
    version: int = 0
    # What the timer runs for: an incident (incident_id), or a requested item (issue 17; see domain.requests).
    record_type: str = INCIDENT
    request_item_id: str | None = None
    request_id: str | None = None
    record_number: str | None = None  # a requested item's RITM number (incidents' are the incidents service's)
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN

    @property
    def record_id(self) -> str:
        return self.incident_id if self.record_type == INCIDENT else self.request_item_id

    def _names(self) -> dict[str, Any]:
        """How its events name the timer and its record (incident_id stays required: empty for other records)."""
        return dict(timer_id=self.id, incident_id=self.incident_id or "", kind=self.kind,
                    definition_id=self.definition_id, record_type=self.record_type, record_id=self.record_id)

    # -- measuring ------------------------------------------------------------------------

    def elapsed(self, clock: Clock, now: datetime) -> timedelta:
        """Business time counted against the target up to `now` (or the stop)."""
        total = timedelta(0)
        for s in self.segments:
            if s.state == "running":
                total += clock.measure(s.start, s.end or max(now, s.start))
        return total

    def paused_for(self, now: datetime) -> timedelta:
        """Real time spent paused (on hold) so far."""
        return sum(((s.end or max(now, s.start)) - s.start for s in self.segments if s.state == "paused"),
                   timedelta(0))

    def crossing(self, clock: Clock, amount: timedelta) -> datetime | None:
        """The instant the counted time reaches `amount`: in a past running segment, or ahead while
        running; None if it has not been reached and the timer is not running."""
        used = timedelta(0)
        try:
            for s in self.segments:
                if s.state != "running":
                    continue
                if s.end is None:
                    return clock.add(s.start, amount - used)
                span = clock.measure(s.start, s.end)
                if used + span >= amount:
                    return clock.add(s.start, amount - used)
                used += span
        except NoWorkingTime:
            return None
        return None

    def due(self, clock: Clock, now: datetime) -> datetime | None:
        """When the target is (or was) reached. While paused or stopped short of it: when it would be,
        were the clock to run on from now (paused) or from the stop."""
        reached = self.crossing(clock, self.target)
        if reached is not None or self.stage is Stage.IN_PROGRESS:
            return reached
        since = now if self.stage is Stage.PAUSED else (self.stopped_at or now)
        try:
            return clock.add(since, self.target - self.elapsed(clock, since))
        except NoWorkingTime:
            return None

    def percent(self, clock: Clock, now: datetime) -> float:
        return round(100 * (self.elapsed(clock, now) / self.target), 2)

    def is_breached(self, clock: Clock, now: datetime) -> bool:
        """Breached by `now` (or by its stop), whether or not the scheduler has announced it yet."""
        if self.breached:
            return True
        if self.stage is Stage.CANCELLED:
            return False
        reached = self.crossing(clock, self.target)
        return reached is not None and reached < (self.stopped_at or now)

    def refresh(self, clock: Clock) -> None:
        """Recompute what the database keeps for the scheduler: the due time while in progress, and
        the next threshold to announce (in the past when one is overdue)."""
        self.due_at = self.crossing(clock, self.target) if self.stage is Stage.IN_PROGRESS else None
        self.next_alarm_at = None
        for level in self._levels():
            self.next_alarm_at = self.crossing(clock, self._of_target(level))
            break

    def _levels(self) -> list[int]:
        """Thresholds still to announce: warnings while open, and the breach even after the stop."""
        if self.stage is Stage.CANCELLED:
            return []
        if self.stage is Stage.COMPLETED:
            return [BREACH] if self.breached and self.notified_percent < BREACH else []
        return [p for p in (*self.thresholds, BREACH) if p > self.notified_percent]

    def _of_target(self, percent: int) -> timedelta:
        return self.target * percent / 100

    # -- the scheduler's announcement ---------------------------------------------------------

    def alarm(self, clock: Clock, now: datetime) -> EventData | None:
        """Announce the highest threshold crossed by `now` and not announced yet, or nothing.

        Catching up (after an outage) announces only the highest: a breach alone, not the
        warnings it passed, as ServiceNow does not run flows for SLAs already breached.
        """
        crossed = [(p, at) for p in self._levels()
                   if (at := self.crossing(clock, self._of_target(p))) is not None and at <= now]
        if not crossed:
            self.refresh(clock)
            return None
        level, at = crossed[-1]
        self.notified_percent = level
        due = self.crossing(clock, self.target) or at
        common = dict(self._names(), policy=self.policy, priority=self.priority, due_at=due,
                      target_seconds=self.target.total_seconds(), escalation_group=self.escalation_group,
                      record_number=self.record_number, request_id=self.request_id)
        if level == BREACH:
            self.breached, self.breached_at = True, at
            event: EventData = SlaBreached(breached_at=at, detected_at=now, **common)
        else:
            event = SlaWarning(threshold=level, crossed_at=at, **common)
        self.record(event)
        self.refresh(clock)
        return event

    # -- moves, as incident steps dictate -------------------------------------------------------

    def pause(self, clock: Clock, at: datetime, event_id: str, reason: str) -> None:
        if self.stage is not Stage.IN_PROGRESS:
            return
        at = self._switch("paused", at, event_id, reason)
        self.stage = Stage.PAUSED
        self.record(self._event(SlaTimerPaused, paused_at=at,
                                elapsed_seconds=self.elapsed(clock, at).total_seconds()))

    def resume(self, clock: Clock, at: datetime, event_id: str, reason: str) -> None:
        if self.stage is not Stage.PAUSED:
            return
        at = self._switch("running", at, event_id, reason)
        self.stage = Stage.IN_PROGRESS
        self.record(self._event(SlaTimerResumed, resumed_at=at, due_at=self.due(clock, at)))

    def complete(self, clock: Clock, at: datetime, event_id: str, reason: str) -> None:
        self._finish(Stage.COMPLETED, clock, at, event_id, reason)

    def cancel(self, clock: Clock, at: datetime, event_id: str, reason: str) -> None:
        self._finish(Stage.CANCELLED, clock, at, event_id, reason)

    def reopen(self, clock: Clock, at: datetime, event_id: str, reason: str) -> None:
        """A completed timer runs again; the time since its stop is a stopped segment, not counted."""
        if self.stage is not Stage.COMPLETED or self.stopped_at is None:
            return
        last = self.segments[-1]
        at = max(at, self.stopped_at)
        self.segments.append(Segment("stopped", self.stopped_at, at, last.end_event or last.start_event, event_id,
                                     last.end_reason or "stopped", reason))
        self.segments.append(Segment("running", at, None, event_id, None, reason))
        self.stage, self.stopped_at = Stage.IN_PROGRESS, None
        self.record(self._event(SlaTimerResumed, resumed_at=at, due_at=self.due(clock, at)))

    def _finish(self, stage: Stage, clock: Clock, at: datetime, event_id: str, reason: str) -> None:
        if not self.is_open:
            return
        at = self._close(at, event_id, reason)
        self.stage, self.stopped_at = stage, at
        reached = self.crossing(clock, self.target)
        if reached is not None and reached < at:
            self.breached, self.breached_at = True, self.breached_at or reached
        outcome = "cancelled" if stage is Stage.CANCELLED else ("breached" if self.breached else "met")
        self.record(self._event(SlaTimerStopped, stopped_at=at, breached=self.breached, outcome=outcome))
        if outcome == "met":
            self.record(self._event(SlaMet, policy=self.policy, stopped_at=at, due_at=self.due(clock, at),
                                    elapsed_seconds=self.elapsed(clock, at).total_seconds(),
                                    target_seconds=self.target.total_seconds()))

    def _close(self, at: datetime, event_id: str, reason: str) -> datetime:
        last = self.segments[-1]
        at = max(at, last.start)
        self.segments[-1] = dataclasses.replace(last, end=at, end_event=event_id, end_reason=reason)
        return at

    def _switch(self, state: SegmentState, at: datetime, event_id: str, reason: str) -> datetime:
        at = self._close(at, event_id, reason)
        self.segments.append(Segment(state, at, None, event_id, None, reason))
        return at

    def _event(self, kind: type[EventData], **fields) -> EventData:
        return kind(**self._names(), **fields)

    def started_event(self, clock: Clock) -> EventData:
        due = self.due(clock, self.attached_at) or self.attached_at + self.target
        return self._event(SlaTimerStarted, policy=self.policy, started_at=self.started_at, due_at=due,
                           cycle=self.cycle, stage=self.stage.value)

    def repaired_event(self, clock: Clock, now: datetime) -> EventData:
        return self._event(SlaTimerRepaired, stage=self.stage.value, due_at=self.due(clock, now),
                           breached=self.is_breached(clock, now), repaired_at=now)


# -- the engine ---------------------------------------------------------------------------------


@dataclass
class Library:
    """The definitions, calendars and CI classes an engine run may need, loaded by the caller.

    Definition and calendar versions never change once written, so a process may keep them.
    """

    definitions: dict[tuple[str, int], Definition] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)  # definition id -> its latest version
    calendars: dict[tuple[str, int], Calendar] = field(default_factory=dict)
    current_calendars: dict[str, int] = field(default_factory=dict)
    ci_classes: dict[str, str] = field(default_factory=dict)  # CI id or name -> class

    def definition(self, definition_id: str, version: int) -> Definition:
        return self.definitions[(definition_id, version)]

    def latest(self, definition_id: str) -> Definition | None:
        version = self.current.get(definition_id)
        return None if version is None else self.definitions[(definition_id, version)]

    def clock(self, calendar_id: str | None, version: int | None) -> Clock:
        return ALWAYS if calendar_id is None else self.calendars[(calendar_id, version)]

    def calendar_version(self, calendar_id: str | None) -> int | None:
        return None if calendar_id is None else self.current_calendars[calendar_id]


def describe(step: Step) -> str:
    """What a step did, in a few words, for segment explanations."""
    before, after = step.before, step.after
    if before is None:
        return "opened"
    if before.state != after.state:
        hold = f" ({after.hold_reason})" if after.hold_reason else ""
        return f"{before.state} -> {after.state}{hold}"
    if before.priority != after.priority:
        return f"priority {before.priority} -> {after.priority}"
    if (before.assignee, before.assignment_group) != (after.assignee, after.assignment_group):
        return f"assigned to {after.assignee or after.assignment_group or 'nobody'}"
    return "fields changed"


class Engine:
    """Moves an incident's timers on by one step of its history.

    `attachable` are the definitions new timers may attach by (the active ones, latest
    version); open timers run on by the version they attached with.
    """

    def __init__(self, library: Library, attachable: Sequence[str] | None = None):
        self.library = library
        if attachable is None:
            attachable = [i for i in library.current if (d := library.latest(i)) is not None and d.active]
        self.attachable = sorted(attachable)
        # Each goal a new timer may attach by: worked out once per engine, not once per step (a storm's run of
        # openings goes through one engine).
        self._attachable_goals = {(i, g.kind): (self.library.latest(i), g) for i in self.attachable
                                  for g in self.library.latest(i).goals}

    def advance(self, incident_id: str, timers: list[Timer], history: Sequence[Step], i: int) -> list[Timer]:
        """Apply history[i] to `timers` (changed in place); returns the timers it attached (also appended)."""
        series: dict[tuple[str, str], list[Timer]] = {}
        for t in sorted(timers, key=lambda t: t.cycle):
            series.setdefault((t.definition_id, t.kind), []).append(t)
        attached: list[Timer] = []
        for key in sorted(series.keys() | self._attachable_goals.keys(), key=lambda k: (k[0], KINDS.index(k[1]))):
            cycles = series.get(key, [])
            last = cycles[-1] if cycles else None
            if last is not None and (last.is_open or last.stage is Stage.COMPLETED):
                definition = self.library.definition(last.definition_id, last.definition_version)
                goal = definition.goal(key[1])
            elif key in self._attachable_goals:
                definition, goal = self._attachable_goals[key]
            else:
                continue
            if goal is not None:
                attached += self._series(incident_id, cycles, definition, goal, history, i, retroactive=True)
        step = history[i]
        for t in (*timers, *attached):
            if t.is_open and (t.priority, t.business_service) != (step.after.priority, step.after.business_service):
                t.priority, t.business_service = step.after.priority, step.after.business_service
                t.version += 1  # reports group by them; no event says so
        timers.extend(attached)
        for t in timers:
            if t.events:
                t.refresh(self.library.clock(t.calendar_id, t.calendar_version))
        return attached

    def _series(self, incident_id: str, cycles: list[Timer], definition: Definition, goal: Goal,
                history: Sequence[Step], i: int, *, retroactive: bool) -> list[Timer]:
        """ServiceNow's evaluation of one definition's goal on one step: complete, cancel, reset,
        pause or resume the open timer; reopen a completed one; or attach a new one."""
        step = history[i]
        record = step.after
        applies = definition.applies_to.matches(record, self.library.ci_classes.get(record.affected_ci or ""))
        if not applies and not cycles:
            return []  # nothing to attach, nothing running (most definitions, for most steps)
        event_id, at, reason = step.fact.event_id, step.at, describe(step)
        start = applies and record.state in goal.start_states
        stop = goal.stops(record)
        last = cycles[-1] if cycles else None
        if last is not None and last.is_open:
            clock = self.library.clock(last.calendar_id, last.calendar_version)
            if stop:
                last.complete(clock, at, event_id, reason)
            elif not start:
                last.cancel(clock, at, event_id, reason if applies else f"{reason}: the definition no longer applies")
            elif goal.reassigned(step.before, record):
                last.complete(clock, at, event_id, f"{reason}: reset")
                return [self._attach(incident_id, definition, goal, last.cycle + 1, history, i, retroactive=False)]
            elif record.state in goal.pause_states:
                last.pause(clock, at, event_id, reason)
            else:
                last.resume(clock, at, event_id, reason)
            return []
        if last is not None and last.stage is Stage.COMPLETED:
            if goal.reopened(step.before, record) and start and not stop:
                if goal.on_reopen == "resume":
                    last.reopen(self.library.clock(last.calendar_id, last.calendar_version), at, event_id, reason)
                elif goal.on_reopen == "reset":
                    return [self._attach(incident_id, definition, goal, last.cycle + 1, history, i,
                                         retroactive=False)]
            return []
        if start and not stop:
            return [self._attach(incident_id, definition, goal, len(cycles) + 1, history, i,
                                 retroactive=retroactive and goal.retroactive_start)]
        return []

    def _attach(self, incident_id: str, definition: Definition, goal: Goal, cycle: int, history: Sequence[Step],
                i: int, *, retroactive: bool) -> Timer:
        step = history[i]
        calendar_version = self.library.calendar_version(definition.calendar_id)
        clock = self.library.clock(definition.calendar_id, calendar_version)
        state = "paused" if step.after.state in goal.pause_states else "running"
        started_at = step.at
        segments = [Segment(state, step.at, None, step.fact.event_id, None, describe(step))]
        if retroactive and i > 0:
            # As if the definition had always applied: replay the history up to here with it.
            forced, simulated = dataclasses.replace(definition, applies_to=ANYTHING), []
            for j in range(i + 1):
                simulated += self._series(incident_id, simulated, forced, goal, history, j, retroactive=False)
            if simulated and simulated[-1].is_open:
                started_at, segments = simulated[-1].started_at, simulated[-1].segments
        timer = Timer(
            id=timer_id(incident_id, definition.id, goal.kind, cycle), incident_id=incident_id,
            definition_id=definition.id, definition_version=definition.version, kind=goal.kind, cycle=cycle,
            policy=definition.name, priority=step.after.priority, business_service=step.after.business_service,
            target=goal.target, calendar_id=definition.calendar_id, calendar_version=calendar_version,
            thresholds=definition.thresholds, escalation_group=definition.escalation_group, started_at=started_at,
            attached_at=step.at, segments=list(segments),
            stage=Stage.PAUSED if segments[-1].state == "paused" else Stage.IN_PROGRESS,
        )
        timer.record(timer.started_event(clock))  # advance refreshes every timer with events, this one too
        return timer

    def take(self, incident_id: str, timers: list[Timer], arrival: Arrival, now: datetime) -> None:
        """Apply to `timers` (in place) what one more fact of the incident's history changes: its step
        and those it let in; or, for a fact older than steps already applied, a replay (as a repair)."""
        if arrival.replay:
            outcome = self.replay(incident_id, timers, arrival.history, now)
            changed = {t.id: t for t in outcome.changed}
            timers[:] = [changed.get(t.id, t) for t in timers] + outcome.started
        for i in arrival.apply:
            self.advance(incident_id, timers, arrival.history, i)

    # -- repair ------------------------------------------------------------------------------

    def replay(self, incident_id: str, stored: Sequence[Timer], history: Sequence[Step],
               now: datetime) -> RepairOutcome:
        """`rebuild`, where the definitions of the open timers may attach too: a timer of a definition
        made inactive since runs on, as it does step by step."""
        running = {t.definition_id for t in stored if t.is_open} & set(self.library.current)
        return Engine(self.library, sorted({*self.attachable, *running})).rebuild(incident_id, stored, history, now)

    def rebuild(self, incident_id: str, stored: Sequence[Timer], history: Sequence[Step],
                now: datetime) -> RepairOutcome:
        """Recompute an incident's open timers from its whole history with the latest definitions and
        calendars. Closed timers stay as they are (reports keep what they said); an open timer the
        replay no longer gives is cancelled. No pause is lost or counted twice: the segments come
        from the events again, not from the timers' previous state."""
        fresh: list[Timer] = []
        for i in range(len(history)):
            self.advance(incident_id, fresh, history, i)
        old = {t.id: t for t in stored}
        outcome = RepairOutcome()
        for timer in fresh:
            timer.events.clear()
            before = old.pop(timer.id, None)
            clock = self.library.clock(timer.calendar_id, timer.calendar_version)
            if before is None:
                if timer.is_open:  # a closed one would rewrite what reports said
                    timer.record(timer.started_event(clock))
                    outcome.started.append(timer)
                continue
            if not before.is_open:
                continue
            timer.version, timer.notified_percent = before.version, before.notified_percent
            if timer.breached and before.breached and before.breached_at:
                timer.breached_at = before.breached_at
            timer.refresh(clock)
            if _state(timer) != _state(before):
                timer.record(timer.repaired_event(clock, now))
                outcome.changed.append(timer)
        for timer in old.values():
            if timer.is_open:
                timer.cancel(self.library.clock(timer.calendar_id, timer.calendar_version), now, "repair",
                             "repair: no definition gives this timer any more")
                timer.refresh(self.library.clock(timer.calendar_id, timer.calendar_version))
                outcome.cancelled.append(timer)
        return outcome


@dataclass
class RepairOutcome:
    started: list[Timer] = field(default_factory=list)
    changed: list[Timer] = field(default_factory=list)
    cancelled: list[Timer] = field(default_factory=list)

    @property
    def timers(self) -> list[Timer]:
        return [*self.started, *self.changed, *self.cancelled]


_COMPARED = ("definition_version", "policy", "target", "calendar_id", "calendar_version", "thresholds",
             "escalation_group", "started_at", "segments", "stage", "stopped_at", "breached", "due_at",
             "next_alarm_at")


def _state(timer: Timer) -> tuple:
    return tuple(getattr(timer, name) for name in _COMPARED)

