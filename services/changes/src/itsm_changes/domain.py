"""Change requests, as ITIL change enablement and ServiceNow's change model define them. Pure: no I/O.

A change's type decides the path it walks. A standard change is pre-authorized, so it
skips assessment and authorization; an emergency change cannot wait for assessment, so
it goes straight to authorization (the emergency CAB); a normal change walks it all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from itsm_contracts.events import EventData
from itsm_contracts.events.changes import ChangeRequested
from itsm_kit.domain import InvalidValue, RaisesEvents, check_transition, choice


class ChangeType(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class State(StrEnum):
    NEW = "new"
    ASSESS = "assess"
    AUTHORIZE = "authorize"
    SCHEDULED = "scheduled"
    IMPLEMENT = "implement"
    REVIEW = "review"
    CLOSED = "closed"
    CANCELED = "canceled"


FINAL_STATES = frozenset({State.CLOSED, State.CANCELED})

# The path each type walks forward, from new to closed.
PATHS: dict[ChangeType, tuple[State, ...]] = {
    ChangeType.NORMAL: (State.NEW, State.ASSESS, State.AUTHORIZE, State.SCHEDULED, State.IMPLEMENT, State.REVIEW,
                        State.CLOSED),
    ChangeType.STANDARD: (State.NEW, State.SCHEDULED, State.IMPLEMENT, State.REVIEW, State.CLOSED),
    ChangeType.EMERGENCY: (State.NEW, State.AUTHORIZE, State.SCHEDULED, State.IMPLEMENT, State.REVIEW, State.CLOSED),
}

# Rejected in assessment or authorization: back to new, to be reworked and resubmitted.
REJECTION_RETURNS_TO_NEW = frozenset({State.ASSESS, State.AUTHORIZE})


def _transitions(path: tuple[State, ...]) -> dict[State, frozenset[State]]:
    """One type's table: the next step on its path; back to new where rejection is possible;
    canceled from any state before closed. States off its path have no way out (never reached)."""
    table: dict[State, set[State]] = {state: set() for state in State}
    for here, after in zip(path, path[1:]):
        table[here].add(after)
    for state in path:
        if state in REJECTION_RETURNS_TO_NEW:
            table[state].add(State.NEW)
        if state not in FINAL_STATES:
            table[state].add(State.CANCELED)
    return {state: frozenset(next_states) for state, next_states in table.items()}


# The whole lifecycle: for each type, from each state, where a change may go next.
TRANSITIONS: dict[ChangeType, dict[State, frozenset[State]]] = {
    kind: _transitions(path) for kind, path in PATHS.items()
}


def change_type_of(value: str) -> ChangeType:
    return choice(ChangeType, value, "a change type")


def check_planned_window(start: datetime | None, end: datetime | None) -> None:
    """Either bound may be unknown yet; when both are given, the work must take some time."""
    if any(t is not None and t.tzinfo is None for t in (start, end)):
        raise InvalidValue("planned start and end need a timezone")
    if start is not None and end is not None and end <= start:
        raise InvalidValue(f"the planned end ({end.isoformat()}) must be after the planned start ({start.isoformat()})")


@dataclass
class ChangeRequest(RaisesEvents):
    id: str
    number: str
    short_description: str
    description: str
    change_type: ChangeType
    state: State
    planned_start: datetime | None
    planned_end: datetime | None
    requested_at: datetime
    updated_at: datetime
    version: int = 0
    # (sequence, event) raised since loading; the handler stores them with the change.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def request(cls, *, id: str, number: str, short_description: str, description: str, change_type: str,
                planned_start: datetime | None, planned_end: datetime | None, at: datetime) -> ChangeRequest:
        if not short_description.strip():
            raise InvalidValue("a change request needs a short description")
        check_planned_window(planned_start, planned_end)
        change = cls(
            id=id, number=number, short_description=short_description.strip(), description=description,
            change_type=change_type_of(change_type), state=State.NEW, planned_start=planned_start,
            planned_end=planned_end, requested_at=at, updated_at=at,
        )
        change._raise(ChangeRequested(change_id=id, number=number, short_description=change.short_description,
                                      change_type=change.change_type, requested_at=at), at)
        return change

    def move_to(self, wanted: State, at: datetime) -> None:
        check_transition(TRANSITIONS[self.change_type], f"a {self.change_type} change", self.state, wanted)
        # Scheduling means committing to a window: the change calendar and conflict checks need one.
        if wanted is State.SCHEDULED and (self.planned_start is None or self.planned_end is None):
            raise InvalidValue("a change is scheduled only with a planned start and end")
        # No use case stores this yet: a change state event contract comes first, and raising
        # it here will also move the version (one version per event).
        self.state, self.updated_at = wanted, at

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)
