"""Problems, as ITIL problem management and ServiceNow's problem model define them. Pure: no I/O.

A problem is the unknown underlying cause of one or more incidents. It is assessed,
its root cause analysed, then fixed (or the risk accepted) and finally closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from itsm_contracts.events import EventData
from itsm_contracts.events.problems import ProblemOpened
from itsm_kit.domain import InvalidValue, RaisesEvents, check_transition, priority_of


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
    # (sequence, event) raised since loading; the handler stores them with the problem.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(cls, *, id: str, number: str, short_description: str, description: str, impact: int, urgency: int,
             at: datetime) -> Problem:
        if not short_description.strip():
            raise InvalidValue("a problem needs a short description")
        # Weighed as incidents are (the shared default matrix): a problem behind P1 incidents ranks with them.
        problem = cls(
            id=id, number=number, short_description=short_description.strip(), description=description,
            state=State.NEW, impact=impact, urgency=urgency, priority=priority_of(impact, urgency),
            opened_at=at, updated_at=at,
        )
        problem._raise(ProblemOpened(problem_id=id, number=number, short_description=problem.short_description,
                                     opened_at=at), at)
        return problem

    def move_to(self, wanted: State, at: datetime) -> None:
        check_transition(TRANSITIONS, "a problem", self.state, wanted)
        # No use case stores this yet: a problem state event contract comes first, and raising
        # it here will also move the version (one version per event).
        self.state, self.updated_at = wanted, at

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)
