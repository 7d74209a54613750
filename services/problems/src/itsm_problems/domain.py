"""Problems, as ITIL problem management and ServiceNow's problem model define them. Pure: no I/O.

A problem is the unknown underlying cause of one or more incidents. It is assessed,
its root cause analysed, then fixed (or the risk accepted) and finally closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from itsm_contracts.events import EventData
from itsm_contracts.events.problems import ProblemOpened, ProblemStateChanged, ProblemUpdated
from itsm_kit.domain import SYSTEM, Conflict, InvalidValue, RaisesEvents, check_patch, check_transition, priority_of


class State(StrEnum):
    NEW = "new"
    ASSESS = "assess"
    ROOT_CAUSE_ANALYSIS = "root_cause_analysis"
    FIX_IN_PROGRESS = "fix_in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


# The whole lifecycle: from each state, where a problem may go next. Closed is reachable
# from every open state because a problem may be canceled or found a duplicate at any
# point; ServiceNow closes those with a resolution code rather than a state of their own.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.ASSESS, State.CLOSED}),
    State.ASSESS: frozenset({State.ROOT_CAUSE_ANALYSIS, State.CLOSED}),
    # The cause is known: fix it, or accept the risk and resolve without a fix.
    State.ROOT_CAUSE_ANALYSIS: frozenset({State.FIX_IN_PROGRESS, State.RESOLVED, State.CLOSED}),
    # Back to analysis when the fix turns out not to address the cause.
    State.FIX_IN_PROGRESS: frozenset({State.RESOLVED, State.ROOT_CAUSE_ANALYSIS, State.CLOSED}),
    State.RESOLVED: frozenset({State.CLOSED, State.ROOT_CAUSE_ANALYSIS}),  # close, or re-analyse: the fix did not hold
    State.CLOSED: frozenset(),
}

# Fields a PATCH may set, and the ones of them that may be emptied with null.
UPDATABLE_FIELDS = frozenset({"short_description", "description", "impact", "urgency", "assignee", "assignment_group",
                              "related_incidents"})
NOT_NULL_FIELDS = frozenset({"short_description", "description", "impact", "urgency", "related_incidents"})


def distinct(ids: list[str] | tuple[str, ...]) -> list[str]:
    """The ids once each, in the order first given."""
    return list(dict.fromkeys(ids))


@dataclass
class Problem(RaisesEvents):
    id: str
    number: str
    short_description: str
    description: str
    state: State
    impact: int
    urgency: int
    priority: int
    opened_at: datetime
    updated_at: datetime
    version: int = 0
    opened_by: str = SYSTEM
    assignee: str | None = None
    assignment_group: str | None = None
    # The incidents this problem is the cause of, by id (the incidents service owns them).
    related_incidents: list[str] = field(default_factory=list)
    # (sequence, event) raised since loading; the handler stores them with the problem.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(cls, *, id: str, number: str, short_description: str, description: str, impact: int, urgency: int,
             at: datetime, opened_by: str = SYSTEM, assignee: str | None = None, assignment_group: str | None = None,
             related_incidents: list[str] | tuple[str, ...] = ()) -> Problem:
        if not short_description.strip():
            raise InvalidValue("a problem needs a short description")
        # Weighed as incidents are (the shared default matrix): a problem behind P1 incidents ranks with them.
        problem = cls(
            id=id, number=number, short_description=short_description.strip(), description=description,
            state=State.NEW, impact=impact, urgency=urgency, priority=priority_of(impact, urgency),
            opened_at=at, updated_at=at, opened_by=opened_by, assignee=assignee, assignment_group=assignment_group,
            related_incidents=distinct(related_incidents),
        )
        problem._raise(ProblemOpened(
            problem_id=id, number=number, short_description=problem.short_description, opened_at=at, impact=impact,
            urgency=urgency, priority=problem.priority, assignee=assignee, assignment_group=assignment_group,
            related_incidents=problem.related_incidents, actor=opened_by), at)
        return problem

    def update(self, changes: Mapping[str, Any], at: datetime, *, actor: str = SYSTEM) -> None:
        """A PATCH: only the fields named change; what really changed is published as itsm.problem.updated
        (with the priority when impact or urgency moved it; nothing, and no new version, when nothing did)."""
        check_patch(changes, UPDATABLE_FIELDS, NOT_NULL_FIELDS)
        if self.state is State.CLOSED:
            raise Conflict(f"problem {self.number} is closed: it cannot be changed", current_state=self.state)
        wanted = dict(changes)
        if "short_description" in wanted:
            if not wanted["short_description"].strip():
                raise InvalidValue("a problem needs a short description")
            wanted["short_description"] = wanted["short_description"].strip()
        if "related_incidents" in wanted:
            wanted["related_incidents"] = distinct(wanted["related_incidents"])
        wanted["priority"] = priority_of(wanted.get("impact", self.impact), wanted.get("urgency", self.urgency))
        updated = {name: value for name, value in sorted(wanted.items()) if getattr(self, name) != value}
        if not updated:
            return
        for name, value in updated.items():
            setattr(self, name, value)
        self._raise(ProblemUpdated(problem_id=self.id, changes=updated, updated_at=at, actor=actor), at)

    def move_to(self, wanted: State, at: datetime, *, actor: str = SYSTEM) -> None:
        check_transition(TRANSITIONS, "a problem", self.state, wanted)
        before, self.state = self.state, wanted
        self._raise(ProblemStateChanged(problem_id=self.id, from_state=before, to_state=wanted, changed_at=at,
                                        actor=actor), at)

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)
