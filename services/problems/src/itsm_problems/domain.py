"""Problems, as ITIL problem management and ServiceNow's problem model define them. Pure: no I/O.

A problem is the unknown underlying cause of one or more incidents. It is assessed,
its root cause analysed, then fixed (or the risk accepted), resolved and finally closed;
or canceled before it is resolved. Besides its events, a problem keeps the lines of its
timeline (`activity`) until its unit of work writes them (the kit's timeline writer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from itsm_contracts.events import EventData
from itsm_contracts.events.problems import (
    ProblemClosed, ProblemCommented, ProblemIncidentLinked, ProblemIncidentUnlinked, ProblemOpened, ProblemResolved,
    ProblemRootCauseIdentified, ProblemStateChanged, ProblemUpdated, ProblemWorkNoteAdded,
)
from itsm_kit.domain import (
    SYSTEM, Activity, ActivityKind, Conflict, InvalidTransition, InvalidValue, RaisesEvents, activity_text,
    check_patch, check_transition, choice, priority_of,
)


class State(StrEnum):
    NEW = "new"
    ASSESS = "assess"
    ROOT_CAUSE_ANALYSIS = "root_cause_analysis"
    FIX_IN_PROGRESS = "fix_in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELED = "canceled"


class CauseCode(StrEnum):
    SOFTWARE = "software"
    HARDWARE = "hardware"
    CONFIGURATION = "configuration"
    CAPACITY = "capacity"
    PROCESS = "process"
    THIRD_PARTY = "third_party"
    UNKNOWN = "unknown"


class ResolutionCode(StrEnum):
    FIX_APPLIED = "fix_applied"
    RISK_ACCEPTED = "risk_accepted"
    DUPLICATE = "duplicate"
    CANCELED = "canceled"


# The whole lifecycle: from each state, where a problem may go next. Any open problem may be
# resolved (a duplicate or a dropped one is resolved with that resolution code) or canceled.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.ASSESS, State.RESOLVED, State.CANCELED}),
    State.ASSESS: frozenset({State.ROOT_CAUSE_ANALYSIS, State.RESOLVED, State.CANCELED}),
    # The cause is known: fix it, or accept the risk and resolve without a fix.
    State.ROOT_CAUSE_ANALYSIS: frozenset({State.FIX_IN_PROGRESS, State.RESOLVED, State.CANCELED}),
    # Back to analysis when the fix turns out not to address the cause.
    State.FIX_IN_PROGRESS: frozenset({State.RESOLVED, State.ROOT_CAUSE_ANALYSIS, State.CANCELED}),
    State.RESOLVED: frozenset({State.CLOSED, State.ROOT_CAUSE_ANALYSIS}),  # close, or re-analyse: the fix did not hold
    State.CLOSED: frozenset(),
    State.CANCELED: frozenset(),
}
# States only a command enters (it carries what the state needs: a resolution), with the command to use;
# the rest of TRANSITIONS is what POST /problems/{id}/state may do.
COMMAND_ONLY: dict[State, str] = {State.RESOLVED: "resolve", State.CLOSED: "close"}
MOVES: dict[State, frozenset[State]] = {here: nexts - COMMAND_ONLY.keys() for here, nexts in TRANSITIONS.items()}
FINAL_STATES = frozenset({State.CLOSED, State.CANCELED})
# The cause may be written down while it is being looked for or fixed.
ROOT_CAUSE_STATES = frozenset({State.ASSESS, State.ROOT_CAUSE_ANALYSIS, State.FIX_IN_PROGRESS})
MAX_LINKED_INCIDENTS = 200

# Fields a PATCH may set, and the ones of them that may be emptied with null.
UPDATABLE_FIELDS = frozenset({"short_description", "description", "impact", "urgency", "assignee", "assignment_group",
                              "related_incidents", "fix_change_id"})
NOT_NULL_FIELDS = frozenset({"short_description", "description", "impact", "urgency", "related_incidents"})


class NeedsCommand(InvalidTransition):
    """A move that only its own command makes (resolve, close): /state refuses it, naming the command."""

    def __init__(self, current: State, wanted: State):
        super().__init__("a problem", current, wanted, MOVES[current])
        self.args = (f"{self.args[0]}; {wanted} comes only with POST /problems/{{id}}/{COMMAND_ONLY[wanted]}",)
        self.details["use"] = COMMAND_ONLY[wanted]




def _required(text: str, what: str) -> str:
    if not text.strip():
        raise InvalidValue(f"{what} must not be blank")
    return text


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
    root_cause: str | None = None
    cause_code: CauseCode | None = None
    fix_change_id: str | None = None  # the change request that fixes it (the changes service owns it)
    resolution_code: ResolutionCode | None = None
    resolution_notes: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    # Timeline lines written since loading; the unit of work's timeline writer stores them.
    activity: list[Activity] = field(default_factory=list, repr=False, compare=False)
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
        problem.activity.append(Activity(ActivityKind.OPENED, opened_by, at, new_value=number,
                                         text=problem.short_description))
        return problem

    def update(self, changes: Mapping[str, Any], at: datetime, *, actor: str = SYSTEM) -> None:
        """A PATCH: only the fields named change; what really changed is published as itsm.problem.updated
        (with the priority when impact or urgency moved it; nothing, and no new version, when nothing did)."""
        check_patch(changes, UPDATABLE_FIELDS, NOT_NULL_FIELDS)
        self._check_not_final("changed")
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
            self._line(name, getattr(self, name), value, at, actor)
            setattr(self, name, value)
        self._raise(ProblemUpdated(problem_id=self.id, changes=updated, updated_at=at, actor=actor), at)

    # -- the lifecycle ---------------------------------------------------------------------

    def move_to(self, wanted: State, at: datetime, *, actor: str = SYSTEM) -> None:
        """A move along the table (POST .../state); resolved and closed come only with their commands."""
        if wanted in COMMAND_ONLY and wanted in TRANSITIONS[self.state]:
            raise NeedsCommand(self.state, wanted)
        check_transition(MOVES, "a problem", self.state, wanted)
        if self.state is State.RESOLVED:  # re-analysed: the fix did not hold; the timeline keeps the resolution
            for name in ("resolution_code", "resolution_notes", "resolved_at"):
                setattr(self, name, None)
        self._move(wanted, at, actor)

    def identify_root_cause(self, description: str, cause_code: str, at: datetime, *, actor: str = SYSTEM) -> None:
        """The cause found (or found again, differently); nothing raised when it is the one already written."""
        code = choice(CauseCode, cause_code, "a cause code")
        description = _required(description, "a root cause")
        if self.state not in ROOT_CAUSE_STATES:
            raise Conflict(f"problem {self.number} is {self.state}: a root cause is written in "
                           f"{', '.join(sorted(ROOT_CAUSE_STATES))}", current_state=self.state,
                           allowed_states=sorted(ROOT_CAUSE_STATES))
        if (self.root_cause, self.cause_code) == (description, code):
            return
        self._line("root_cause", self.root_cause, description, at, actor)
        self._line("cause_code", self.cause_code, code, at, actor)
        self.root_cause, self.cause_code = description, code
        self._raise(ProblemRootCauseIdentified(problem_id=self.id, root_cause=description, cause_code=code,
                                               identified_at=at, actor=actor), at)

    def resolve(self, resolution_code: str, notes: str, at: datetime, *, resolve_linked_incidents: bool = False,
                actor: str = SYSTEM) -> None:
        """Resolved with a resolution: fix_applied only once the root cause is known. The event carries the
        linked incidents, so that the incidents service may resolve them (never a call from here)."""
        code = choice(ResolutionCode, resolution_code, "a resolution code")
        notes = _required(notes, "resolution notes")
        check_transition(TRANSITIONS, "a problem", self.state, State.RESOLVED)
        if code is ResolutionCode.FIX_APPLIED and self.root_cause is None:
            raise InvalidValue(f"problem {self.number} has no root cause: identify it before resolving as fix_applied")
        self.resolution_code, self.resolution_notes, self.resolved_at = code, notes, at
        self._line("resolution_code", None, code, at, actor)
        self._raise(ProblemResolved(problem_id=self.id, resolution_code=code, notes=notes,
                                    resolve_linked_incidents=resolve_linked_incidents,
                                    incident_ids=list(self.related_incidents), resolved_at=at, actor=actor), at)
        self._move(State.RESOLVED, at, actor)

    def close(self, at: datetime, *, actor: str = SYSTEM) -> None:
        check_transition(TRANSITIONS, "a problem", self.state, State.CLOSED)
        self.closed_at = at
        self._raise(ProblemClosed(problem_id=self.id, closed_at=at, actor=actor), at)
        self._move(State.CLOSED, at, actor)

    # -- links to incidents ----------------------------------------------------------------

    def link_incident(self, incident_id: str, at: datetime, *, actor: str = SYSTEM) -> None:
        """Idempotent: an incident already linked raises nothing."""
        if incident_id in self.related_incidents:
            return
        self._check_not_final("linked to an incident")
        if len(self.related_incidents) >= MAX_LINKED_INCIDENTS:
            raise Conflict(f"problem {self.number} already has {MAX_LINKED_INCIDENTS} linked incidents, the most "
                           "it keeps", limit=MAX_LINKED_INCIDENTS)
        self.related_incidents = [*self.related_incidents, incident_id]
        self._line("related_incidents", None, incident_id, at, actor)
        self._raise(ProblemIncidentLinked(problem_id=self.id, incident_id=incident_id, at=at, actor=actor), at)

    def unlink_incident(self, incident_id: str, at: datetime, *, actor: str = SYSTEM) -> None:
        """Idempotent: an incident not linked raises nothing."""
        if incident_id not in self.related_incidents:
            return
        self._check_not_final("unlinked from an incident")
        self.related_incidents = [i for i in self.related_incidents if i != incident_id]
        self._line("related_incidents", incident_id, None, at, actor)
        self._raise(ProblemIncidentUnlinked(problem_id=self.id, incident_id=incident_id, at=at, actor=actor), at)

    # -- comments and work notes -----------------------------------------------------------

    def comment(self, text: str, at: datetime, *, actor: str = SYSTEM) -> None:
        _required(text, "a comment")
        self.activity.append(Activity(ActivityKind.COMMENT, actor, at, text=text))
        self._raise(ProblemCommented(problem_id=self.id, text=text, commented_at=at, actor=actor), at)

    def add_work_note(self, text: str, at: datetime, *, actor: str = SYSTEM) -> None:
        _required(text, "a work note")
        self.activity.append(Activity(ActivityKind.WORK_NOTE, actor, at, text=text))
        self._raise(ProblemWorkNoteAdded(problem_id=self.id, text=text, added_at=at, actor=actor), at)

    # -- inside ----------------------------------------------------------------------------

    def _check_not_final(self, what: str) -> None:
        if self.state in FINAL_STATES:
            raise Conflict(f"problem {self.number} is {self.state}: it cannot be {what}", current_state=self.state)

    def _move(self, wanted: State, at: datetime, actor: str) -> None:
        before, self.state = self.state, wanted
        self._line("state", before, wanted, at, actor)
        self._raise(ProblemStateChanged(problem_id=self.id, from_state=before, to_state=wanted, changed_at=at,
                                        actor=actor), at)

    def _line(self, name: str, old: object, new: object, at: datetime, actor: str) -> None:
        self.activity.append(Activity(ActivityKind.FIELD, actor, at, field=name, old_value=activity_text(old),
                                      new_value=activity_text(new)))

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)
