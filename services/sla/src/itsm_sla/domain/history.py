"""An incident as the SLA engine sees it, rebuilt from the incident events sla received. Pure.

Each incident event becomes a Fact (what changed, when, which event); folding the facts in
order gives the incident's Record after each of them. Timers are a function of those
steps, so replaying them gives the same timers again (repair, retroactive start).

The order is the incidents service's: each event's `sequence` (the incident's version after
it), not the order sla received them in, which another replica's relay or a replay may
shuffle. A fact that arrives late finds its place, and `arrive` says what that changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsm_contracts.events import EventData
from itsm_contracts.events.incidents import (
    IncidentAssigned, IncidentOpened, IncidentPriorityChanged, IncidentStateChanged, IncidentUpdated,
)

# Events whose facts sla keeps. Resolved, reopened, closed and canceled are also published
# as state_changed, which is the one sla reads for states.
CONSUMED = (IncidentOpened, IncidentStateChanged, IncidentPriorityChanged, IncidentAssigned, IncidentUpdated)
# A history reconstructed from timers older than the history table (migration 0002).
BASELINE = "sla.history.baseline"
BASELINE_STATE = "sla.history.baseline_state"


@dataclass(frozen=True)
class Record:
    """The incident fields SLA conditions read."""

    state: str
    priority: int
    opened_at: datetime
    hold_reason: str | None = None
    assignee: str | None = None
    assignment_group: str | None = None
    business_service: str | None = None
    category: str | None = None
    affected_ci: str | None = None


RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(Record))
UPDATED_FIELDS = frozenset({"business_service", "category", "affected_ci"})


@dataclass(frozen=True)
class Fact:
    """One incident event: `opens` the record, or `changes` some of its fields, at `at`."""

    event_id: str
    at: datetime
    changes: Mapping[str, Any]
    opens: bool = False
    sequence: int = 0  # the incident's version after the event: where the fact belongs in its history


def fact_of(event_id: str, event_type: str, data: EventData | Mapping[str, Any], sequence: int = 0) -> Fact | None:
    """The fact an incident event states, or None when it changes nothing SLA conditions read."""
    if isinstance(data, IncidentOpened):
        return Fact(event_id, data.opened_at, {name: getattr(data, name) for name in RECORD_FIELDS
                                               if name != "hold_reason"}, opens=True, sequence=sequence)
    if isinstance(data, IncidentStateChanged):
        return Fact(event_id, data.changed_at, {"state": data.to_state, "hold_reason": data.hold_reason},
                    sequence=sequence)
    if isinstance(data, IncidentPriorityChanged):
        return Fact(event_id, data.changed_at, {"priority": data.to_priority}, sequence=sequence)
    if isinstance(data, IncidentAssigned):
        return Fact(event_id, data.assigned_at, {"assignee": data.assignee,
                                                 "assignment_group": data.assignment_group}, sequence=sequence)
    if isinstance(data, IncidentUpdated):
        changes = {k: v for k, v in data.changes.items() if k in UPDATED_FIELDS}
        return Fact(event_id, data.updated_at, changes, sequence=sequence) if changes else None
    if event_type == BASELINE and isinstance(data, Mapping):
        return Fact(event_id, datetime.fromisoformat(data["opened_at"]),
                    {"state": data["state"], "priority": data["priority"],
                     "opened_at": datetime.fromisoformat(data["opened_at"])}, opens=True, sequence=sequence)
    if event_type == BASELINE_STATE and isinstance(data, Mapping):
        return Fact(event_id, datetime.fromisoformat(data["at"]), {"state": data["state"]}, sequence=sequence)
    return None


def ordered(facts: Iterable[Fact]) -> list[Fact]:
    """Facts in the order they happened, by sequence; facts of one sequence (a migration's baseline,
    a replayed history) in the order given."""
    return sorted(facts, key=lambda f: f.sequence)


@dataclass(frozen=True)
class Step:
    """A fact with the record before it (None for the opening) and after it."""

    fact: Fact
    before: Record | None
    after: Record

    @property
    def at(self) -> datetime:
        return self.fact.at


def steps(facts: Iterable[Fact]) -> list[Step]:
    """Fold facts, in order, into records. Facts before the opening are dropped (sla missed the
    start), and so is a second opening (a replayed history). Times never run backwards: a fact
    stamped earlier than the one before it counts as happening with it."""
    found: list[Step] = []
    record: Record | None = None
    for fact in facts:
        if fact.opens:
            if record is not None:
                continue
            after = Record(**{k: v for k, v in fact.changes.items() if k in RECORD_FIELDS})
        elif record is None:
            continue
        else:
            after = dataclasses.replace(record, **{k: v for k, v in fact.changes.items() if k in RECORD_FIELDS})
        if found and fact.at < found[-1].at:
            fact = dataclasses.replace(fact, at=found[-1].at)
        found.append(Step(fact, record, after))
        record = after
    return found


@dataclass(frozen=True)
class Arrival:
    """What one more fact does to an incident's history, whose steps so far the timers reflect."""

    facts: list[Fact]  # the known ones and the new one, in order
    history: list[Step]
    apply: list[int]  # steps to apply to the timers now, in order: the new fact's and those it let in
    replay: bool  # the fact belongs before steps already applied: the timers must be rebuilt from history


def arrive(known: Sequence[Fact], fact: Fact, known_steps: Sequence[Step] | None = None) -> Arrival:
    """Place `fact` among the `known` facts (in order; `known_steps` their steps, if at hand). Mostly
    it comes last and its step is the one to apply. An opening that arrives after later facts lets
    them in behind it (they were dropped while it was missing); a fact older than steps already
    applied means a replay."""
    applied = {s.fact.event_id for s in (steps(known) if known_steps is None else known_steps)}
    facts = ordered([*known, fact])
    history = steps(facts)
    waiting = [i for i, s in enumerate(history) if s.fact.event_id not in applied]
    replay = bool(waiting) and waiting != list(range(waiting[0], len(history)))
    return Arrival(facts, history, [] if replay else waiting, replay)
