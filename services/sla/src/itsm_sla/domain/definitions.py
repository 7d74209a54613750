"""SLA definitions: which incidents they apply to, their goals and the conditions of their clocks. Pure.

Matching: every active definition whose applies-to conditions hold attaches its timers
(ServiceNow's semantics: all matches, not the first). Within a condition, any listed value
matches; across conditions, all must hold; an empty list matches anything. For "first
match" behaviour, make the definitions' conditions exclusive, as the default set does with
one priority each.

A goal (response or resolution) runs a clock with ServiceNow's task-SLA conditions,
expressed on incident state:
- start: the incident is in one of `start_states` and the definition applies; a timer
  attaches only if its stop condition does not hold at that moment;
- stop: the incident reaches one of `stop_states` (or, with `stop_on_assignment`, someone
  is assigned): the timer completes, met or breached;
- cancel: the start condition no longer holds (canceled incident, or the definition no
  longer applies, e.g. after a priority change) while the timer is open;
- pause: the incident is in one of `pause_states`; leaving them resumes it;
- reopen: leaving a stop state for a start state either resumes the completed timer (the
  time in between not counted), resets (a new timer from the reopen) or does nothing;
- reset on reassignment: the assignment group changes from one group to another; the
  running timer completes and a new one attaches (a clock per group).
A timer that attaches after the opening starts retroactively at the opening (as if the
incident had always matched), with the pauses since then applied, unless
`retroactive_start` is off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from itsm_contracts.events.incidents import INCIDENT_STATES, OPEN_INCIDENT_STATES
from itsm_contracts.events.sla import TimerKind
from itsm_kit.domain import PRIORITY_LABELS, InvalidValue
from itsm_sla.domain.history import Record

KINDS: tuple[TimerKind, ...] = ("response", "resolution")
Reopen = Literal["resume", "reset", "none"]
DEFAULT_THRESHOLDS = (50, 75, 90)
MAX_TARGET = timedelta(days=366)

# The goals' conditions when a definition leaves them out: pause while on hold; response stops
# when someone picks the incident up (in progress, on hold, resolved, or a person assigned);
# resolution stops on resolved (and closed), and a reopen resumes it.
DEFAULT_CONDITIONS: Mapping[TimerKind, Mapping[str, object]] = {
    "response": {"start_states": OPEN_INCIDENT_STATES, "pause_states": frozenset({"on_hold"}),
                 "stop_states": frozenset({"in_progress", "on_hold", "resolved", "closed"}),
                 "stop_on_assignment": True, "on_reopen": "none"},
    "resolution": {"start_states": OPEN_INCIDENT_STATES, "pause_states": frozenset({"on_hold"}),
                   "stop_states": frozenset({"resolved", "closed"}), "stop_on_assignment": False,
                   "on_reopen": "resume"},
}


@dataclass(frozen=True)
class AppliesTo:
    priorities: frozenset[int] = frozenset()
    business_services: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    ci_classes: frozenset[str] = frozenset()

    def matches(self, record: Record, ci_class: str | None = None) -> bool:
        return ((not self.priorities or record.priority in self.priorities)
                and (not self.business_services or record.business_service in self.business_services)
                and (not self.categories or record.category in self.categories)
                and (not self.ci_classes or ci_class in self.ci_classes))


ANYTHING = AppliesTo()


@dataclass(frozen=True)
class Goal:
    kind: TimerKind
    target: timedelta
    start_states: frozenset[str]
    pause_states: frozenset[str]
    stop_states: frozenset[str]
    stop_on_assignment: bool = False
    on_reopen: Reopen = "none"
    reset_on_reassignment: bool = False
    retroactive_start: bool = True

    @classmethod
    def create(cls, kind: TimerKind, target: timedelta, **conditions) -> Goal:
        """A goal with the default conditions for its kind where `conditions` leaves them out (or None)."""
        given = {k: v for k, v in conditions.items() if v is not None}
        values = {**DEFAULT_CONDITIONS[kind], **given}
        for name in ("start_states", "pause_states", "stop_states"):
            values[name] = frozenset(values[name])
            if unknown := sorted(values[name] - set(INCIDENT_STATES)):
                raise InvalidValue(f"{kind}: {name} are incident states ({', '.join(INCIDENT_STATES)}), not {unknown}")
        goal = cls(kind=kind, target=target, **values)
        goal._check()
        return goal

    def _check(self) -> None:
        if self.target <= timedelta(0):
            raise InvalidValue(f"{self.kind}: the target must be a positive duration, not {self.target}",
                               field=f"{self.kind}.target")
        if self.target > MAX_TARGET:
            raise InvalidValue(f"{self.kind}: the target may be at most {MAX_TARGET.days} days",
                               field=f"{self.kind}.target")
        if not self.start_states:
            raise InvalidValue(f"{self.kind}: name at least one start state")
        if self.start_states <= self.stop_states:
            raise InvalidValue(f"{self.kind}: every start state is also a stop state, so the timer would never "
                               "attach", start_states=sorted(self.start_states), stop_states=sorted(self.stop_states))
        if outside := sorted(self.pause_states - self.start_states):
            raise InvalidValue(f"{self.kind}: pause states must also be start states, or the timer is cancelled "
                               f"instead of paused: {outside}")
        if self.on_reopen not in ("resume", "reset", "none"):
            raise InvalidValue(f"{self.kind}: on_reopen is resume, reset or none")

    def stops(self, record: Record) -> bool:
        return record.state in self.stop_states or (self.stop_on_assignment and record.assignee is not None)

    def reopened(self, before: Record | None, after: Record) -> bool:
        return before is not None and before.state in self.stop_states and after.state not in self.stop_states

    def reassigned(self, before: Record | None, after: Record) -> bool:
        return (self.reset_on_reassignment and before is not None and before.assignment_group is not None
                and after.assignment_group != before.assignment_group)


@dataclass(frozen=True)
class Definition:
    """One version of an SLA definition (versions are immutable: timers name the one they run by)."""

    id: str
    version: int
    name: str
    goals: tuple[Goal, ...]
    applies_to: AppliesTo = ANYTHING
    calendar_id: str | None = None  # None: 24x7
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    escalation_group: str | None = None
    active: bool = True
    description: str = field(default="", compare=False)

    @classmethod
    def create(cls, *, id: str, version: int, name: str, goals: Iterable[Goal], applies_to: AppliesTo = ANYTHING,
               calendar_id: str | None = None, thresholds: Iterable[int] = DEFAULT_THRESHOLDS,
               escalation_group: str | None = None, active: bool = True, description: str = "") -> Definition:
        if not name or not name.strip():
            raise InvalidValue("an SLA definition needs a name")
        goals = tuple(sorted(goals, key=lambda g: KINDS.index(g.kind)))
        if not goals:
            raise InvalidValue("an SLA definition needs a response or a resolution target (or both)")
        if len({g.kind for g in goals}) != len(goals):
            raise InvalidValue("one goal per kind: response, resolution")
        thresholds = tuple(thresholds)
        if any(not 0 < t < 100 for t in thresholds) or list(thresholds) != sorted(set(thresholds)):
            raise InvalidValue("warning thresholds are percentages between 1 and 99, increasing, each once",
                               warning_thresholds=list(thresholds))
        if len(thresholds) > 10:
            raise InvalidValue("at most 10 warning thresholds")
        if unknown := sorted(applies_to.priorities - set(PRIORITY_LABELS)):
            raise InvalidValue(f"priorities run from 1 (critical) to 5 (planning), not {unknown}")
        return cls(id=id, version=version, name=name.strip(), goals=goals, applies_to=applies_to,
                   calendar_id=calendar_id, thresholds=thresholds, escalation_group=escalation_group,
                   active=active, description=description)

    def goal(self, kind: TimerKind) -> Goal | None:
        return next((g for g in self.goals if g.kind == kind), None)


# The default set, equal to the per-priority 24x7 targets sla started with (seeded by migration 0002).
DEFAULT_TARGETS: Mapping[int, Mapping[TimerKind, timedelta]] = {
    1: {"response": timedelta(minutes=15), "resolution": timedelta(hours=4)},
    2: {"response": timedelta(hours=1), "resolution": timedelta(hours=8)},
    3: {"response": timedelta(hours=4), "resolution": timedelta(days=1)},
    4: {"response": timedelta(hours=8), "resolution": timedelta(days=3)},
    5: {"response": timedelta(days=1), "resolution": timedelta(days=7)},
}


def default_definitions() -> list[Definition]:
    return [
        Definition.create(id=f"default-p{p}", version=1, name=f"P{p} {PRIORITY_LABELS[p]}",
                          applies_to=AppliesTo(priorities=frozenset({p})),
                          goals=[Goal.create(kind, target) for kind, target in targets.items()])
        for p, targets in DEFAULT_TARGETS.items()
    ]
