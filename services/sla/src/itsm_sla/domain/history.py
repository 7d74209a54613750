"""An incident as the SLA engine sees it, rebuilt from the incident events sla received. Pure.

Each incident event becomes a Fact (what changed, when, which event); folding the facts in
order gives the incident's Record after each of them. Timers are a function of those
steps, so replaying them gives the same timers again (repair, retroactive start).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
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


def fact_of(event_id: str, event_type: str, data: EventData | Mapping[str, Any]) -> Fact | None:
    """The fact an incident event states, or None when it changes nothing SLA conditions read."""
    if isinstance(data, IncidentOpened):
        return Fact(event_id, data.opened_at, {name: getattr(data, name) for name in RECORD_FIELDS
                                               if name != "hold_reason"}, opens=True)
    if isinstance(data, IncidentStateChanged):
        return Fact(event_id, data.changed_at, {"state": data.to_state, "hold_reason": data.hold_reason})
    if isinstance(data, IncidentPriorityChanged):
        return Fact(event_id, data.changed_at, {"priority": data.to_priority})
    if isinstance(data, IncidentAssigned):
        return Fact(event_id, data.assigned_at, {"assignee": data.assignee,
                                                 "assignment_group": data.assignment_group})
    if isinstance(data, IncidentUpdated):
        changes = {k: v for k, v in data.changes.items() if k in UPDATED_FIELDS}
        return Fact(event_id, data.updated_at, changes) if changes else None
    if event_type == BASELINE and isinstance(data, Mapping):
        return Fact(event_id, datetime.fromisoformat(data["opened_at"]),
                    {"state": data["state"], "priority": data["priority"],
                     "opened_at": datetime.fromisoformat(data["opened_at"])}, opens=True)
    if event_type == BASELINE_STATE and isinstance(data, Mapping):
        return Fact(event_id, datetime.fromisoformat(data["at"]), {"state": data["state"]})
    return None


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
    """Fold facts into records. Facts before the opening are dropped (sla missed the start), and
    so is a second opening (a replayed history). Times never run backwards: a fact stamped
    earlier than the one before it counts as happening with it."""
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
