"""Change requests, as ITIL change enablement and ServiceNow's change model define them. Pure: no I/O.

A change's type decides the path it walks. A standard change is pre-authorized, so it
skips assessment and authorization; an emergency change cannot wait for assessment, so
it goes straight to authorization (the emergency CAB); a normal change walks it all.

Moving into authorize submits the change for approval. Only a decision takes it out of
there forward: an approval schedules it, a rejection returns it to new (as in ServiceNow)
to be reworked and submitted again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from itsm_contracts.events import EventData
from itsm_contracts.events.changes import (
    ChangeApproved, ChangeRejected, ChangeRequested, ChangeStateChanged, ChangeUpdated,
)
from itsm_kit.domain import (
    SYSTEM, Conflict, InvalidTransition, InvalidValue, RaisesEvents, check_patch, check_transition, choice,
)


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

# What a decision does: (the state the change must await it in, the state it then goes to).
DECISIONS: dict[str, tuple[State, State]] = {
    "approve": (State.AUTHORIZE, State.SCHEDULED),
    "reject": (State.AUTHORIZE, State.NEW),
}
# The moves only a decision makes: the rest of TRANSITIONS is what POST /changes/{id}/state may do. Authorize -> new
# stays a plain move too (withdrawn for rework): it authorizes nothing.
DECISION_ONLY = frozenset({DECISIONS["approve"]})
MOVES: dict[ChangeType, dict[State, frozenset[State]]] = {
    kind: {here: frozenset(there for there in nexts if (here, there) not in DECISION_ONLY)
           for here, nexts in table.items()}
    for kind, table in TRANSITIONS.items()
}

# Fields a PATCH may set, and the ones of them that may be emptied with null.
UPDATABLE_FIELDS = frozenset({"short_description", "description", "planned_start", "planned_end", "assignee",
                              "assignment_group", "affected_cis"})
NOT_NULL_FIELDS = frozenset({"short_description", "description", "affected_cis"})
# From scheduled on, the change calendar holds the change to its window: it may move, not vanish.
WINDOW_KEPT_IN = frozenset({State.SCHEDULED, State.IMPLEMENT, State.REVIEW})


class AwaitsApproval(InvalidTransition):
    """A move that only an approval makes (authorize -> scheduled)."""

    def __init__(self, noun: str, current: State, wanted: State, allowed: frozenset[State]):
        super().__init__(noun, current, wanted, allowed)
        self.args = (f"{self.args[0]}; {wanted} comes only with an approval (POST /changes/{{id}}/approvals)",)
        self.details["approval_required"] = True


def change_type_of(value: str) -> ChangeType:
    return choice(ChangeType, value, "a change type")


def check_planned_window(start: datetime | None, end: datetime | None) -> None:
    """Either bound may be unknown yet; when both are given, the work must take some time."""
    if any(t is not None and t.tzinfo is None for t in (start, end)):
        raise InvalidValue("planned start and end need a timezone")
    if start is not None and end is not None and end <= start:
        raise InvalidValue(f"the planned end ({end.isoformat()}) must be after the planned start ({start.isoformat()})")


def distinct(ids: list[str] | tuple[str, ...]) -> list[str]:
    """The ids once each, in the order first given."""
    return list(dict.fromkeys(ids))


@dataclass(frozen=True)
class Approval:
    """One decision on a change awaiting authorization."""

    approver: str
    decision: str  # "approve" or "reject"
    comment: str | None
    at: datetime


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
    requested_by: str = SYSTEM
    assignee: str | None = None
    assignment_group: str | None = None
    affected_cis: list[str] = field(default_factory=list)
    # Every decision taken, oldest first. For now one approval suffices to authorize; approval groups
    # (any, all, a majority of a CAB) come with issue 15 and decide from this same list.
    approvals: list[Approval] = field(default_factory=list)
    # (sequence, event) raised since loading; the handler stores them with the change.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def request(cls, *, id: str, number: str, short_description: str, description: str, change_type: str,
                planned_start: datetime | None, planned_end: datetime | None, at: datetime,
                requested_by: str = SYSTEM, assignee: str | None = None, assignment_group: str | None = None,
                affected_cis: list[str] | tuple[str, ...] = ()) -> ChangeRequest:
        if not short_description.strip():
            raise InvalidValue("a change request needs a short description")
        check_planned_window(planned_start, planned_end)
        change = cls(
            id=id, number=number, short_description=short_description.strip(), description=description,
            change_type=change_type_of(change_type), state=State.NEW, planned_start=planned_start,
            planned_end=planned_end, requested_at=at, updated_at=at, requested_by=requested_by, assignee=assignee,
            assignment_group=assignment_group, affected_cis=distinct(affected_cis),
        )
        change._raise(ChangeRequested(
            change_id=id, number=number, short_description=change.short_description, change_type=change.change_type,
            requested_at=at, planned_start=planned_start, planned_end=planned_end, assignee=assignee,
            assignment_group=assignment_group, affected_cis=change.affected_cis, actor=requested_by), at)
        return change

    @property
    def noun(self) -> str:
        return f"{'an' if self.change_type is ChangeType.EMERGENCY else 'a'} {self.change_type} change"

    def _check_open(self, doing: str) -> None:
        if self.state in FINAL_STATES:
            raise Conflict(f"change {self.number} is {self.state}: it cannot be {doing}", current_state=self.state)

    def update(self, changes: Mapping[str, Any], at: datetime, *, actor: str = SYSTEM) -> None:
        """A PATCH: only the fields named change; what really changed is published as itsm.change.updated
        (nothing, and no new version, when every value was already so)."""
        check_patch(changes, UPDATABLE_FIELDS, NOT_NULL_FIELDS)
        self._check_open("changed")
        wanted = dict(changes)
        if "short_description" in wanted:
            if not wanted["short_description"].strip():
                raise InvalidValue("a change request needs a short description")
            wanted["short_description"] = wanted["short_description"].strip()
        if "affected_cis" in wanted:
            wanted["affected_cis"] = distinct(wanted["affected_cis"])
        start, end = wanted.get("planned_start", self.planned_start), wanted.get("planned_end", self.planned_end)
        check_planned_window(start, end)
        if self.state in WINDOW_KEPT_IN and (start is None or end is None):
            raise InvalidValue(f"a {self.state} change keeps a planned start and end; move them, do not empty them")
        updated = {name: value for name, value in sorted(wanted.items()) if getattr(self, name) != value}
        if not updated:
            return
        for name, value in updated.items():
            setattr(self, name, value)
        self._raise(ChangeUpdated(change_id=self.id, changes=updated, updated_at=at, actor=actor), at)

    def move_to(self, wanted: State, at: datetime, *, actor: str = SYSTEM, reason: str | None = None) -> None:
        """A move along the type's path (POST .../state): not the one only an approval makes."""
        if (self.state, wanted) in DECISION_ONLY:
            raise AwaitsApproval(self.noun, self.state, wanted, MOVES[self.change_type][self.state])
        check_transition(MOVES[self.change_type], self.noun, self.state, wanted)
        self._move(wanted, at, actor, reason)

    def decide(self, decision: str, comment: str | None, at: datetime, *, actor: str = SYSTEM) -> None:
        """An approver's decision while the change awaits authorization: approve schedules it, reject
        (which must say why) returns it to new. One approval suffices for now (issue 15 brings groups)."""
        if decision not in DECISIONS:
            raise InvalidValue(f"a decision is approve or reject, not {decision!r}")
        awaiting, outcome = DECISIONS[decision]
        if self.state is not awaiting:
            raise Conflict(f"change {self.number} is in state {self.state}, not awaiting approval ({awaiting})",
                           current_state=self.state)
        comment = comment.strip() if comment and comment.strip() else None
        if decision == "reject" and comment is None:
            raise InvalidValue("a rejection needs a comment saying what must change")
        self._check_window(outcome)
        self.approvals = [*self.approvals, Approval(approver=actor, decision=decision, comment=comment, at=at)]
        if decision == "approve":
            self._raise(ChangeApproved(change_id=self.id, comment=comment, approved_at=at, actor=actor), at)
        else:
            self._raise(ChangeRejected(change_id=self.id, comment=comment, rejected_at=at, actor=actor), at)
        self._move(outcome, at, actor, comment)

    def _check_window(self, wanted: State) -> None:
        # Scheduling means committing to a window: the change calendar and conflict checks need one.
        if wanted is State.SCHEDULED and (self.planned_start is None or self.planned_end is None):
            raise InvalidValue("a change is scheduled only with a planned start and end")

    def _move(self, wanted: State, at: datetime, actor: str, reason: str | None) -> None:
        self._check_window(wanted)
        before, self.state = self.state, wanted
        self._raise(ChangeStateChanged(change_id=self.id, from_state=before, to_state=wanted, reason=reason,
                                       changed_at=at, actor=actor), at)

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)
