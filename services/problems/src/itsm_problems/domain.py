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
from typing import Any, ClassVar

from itsm_contracts.events import EventData
from itsm_contracts.events.problems import (
    ProblemClosed, ProblemCommented, ProblemIncidentLinked, ProblemIncidentUnlinked, ProblemKnownErrorPublished,
    ProblemKnownErrorRetired, ProblemOpened, ProblemResolved, ProblemRootCauseIdentified, ProblemStateChanged,
    ProblemUpdated, ProblemWorkNoteAdded,
)
from itsm_contracts.events.requests import RecordDispatched
from itsm_kit.dispatch import DISPATCH, dispatch_note, dispatched_assignment
from itsm_kit.domain import (
    SYSTEM, Activity, ActivityKind, Configuration, Conflict, InvalidTransition, InvalidValue, RaisesEvents,
    activity_text, check_patch, check_transition, choice, priority_of,
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
# A known error is published once the cause is known, and may stay published after the problem is resolved
# (the risk accepted, or the fix not yet everywhere); not from a closed or canceled problem.
KNOWN_ERROR_STATES = frozenset({State.ROOT_CAUSE_ANALYSIS, State.FIX_IN_PROGRESS, State.RESOLVED})

# Fields a PATCH may set, and the ones of them that may be emptied with null.
UPDATABLE_FIELDS = frozenset({"short_description", "description", "impact", "urgency", "assignee", "assignment_group",
                              "related_incidents", "affected_cis", "fix_change_id"})
NOT_NULL_FIELDS = frozenset({"short_description", "description", "impact", "urgency", "related_incidents",
                             "affected_cis"})
LIST_FIELDS = ("related_incidents", "affected_cis")


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
    affected_cis: list[str] = field(default_factory=list)  # CMDB ids (the CMDB owns them)
    root_cause: str | None = None
    cause_code: CauseCode | None = None
    fix_change_id: str | None = None  # the change request that fixes it (the changes service owns it)
    resolution_code: ResolutionCode | None = None
    resolution_notes: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    # What the problem offers incidents linked to it while its known error is published.
    known_error_id: str | None = None
    known_error_number: str | None = None
    workaround: str | None = None
    # Set when detection opened it: the rule, and what it counted on (ci, business_service or category) and the value.
    detection_rule_id: str | None = None
    detected_on: str | None = None
    detected_value: str | None = None
    dispatched_at: datetime | None = None  # issue 17: when the dispatch decision applied last was made
    # Timeline lines written since loading; the unit of work's timeline writer stores them.
    activity: list[Activity] = field(default_factory=list, repr=False, compare=False)
    # (sequence, event) raised since loading; the handler stores them with the problem.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(cls, *, id: str, number: str, short_description: str, description: str, impact: int, urgency: int,
             at: datetime, opened_by: str = SYSTEM, assignee: str | None = None, assignment_group: str | None = None,
             related_incidents: list[str] | tuple[str, ...] = (),
             affected_cis: list[str] | tuple[str, ...] = ()) -> Problem:
        if not short_description.strip():
            raise InvalidValue("a problem needs a short description")
        # Weighed as incidents are (the shared default matrix): a problem behind P1 incidents ranks with them.
        problem = cls(
            id=id, number=number, short_description=short_description.strip(), description=description,
            state=State.NEW, impact=impact, urgency=urgency, priority=priority_of(impact, urgency),
            opened_at=at, updated_at=at, opened_by=opened_by, assignee=assignee, assignment_group=assignment_group,
            related_incidents=distinct(related_incidents), affected_cis=distinct(affected_cis),
        )
        problem._raise(ProblemOpened(
            problem_id=id, number=number, short_description=problem.short_description, opened_at=at, impact=impact,
            urgency=urgency, priority=problem.priority, assignee=assignee, assignment_group=assignment_group,
            related_incidents=problem.related_incidents, actor=opened_by), at)
        problem.activity.append(Activity(ActivityKind.OPENED, opened_by, at, new_value=number,
                                         text=problem.short_description))
        for incident_id in problem.related_incidents:  # each incident hears of it, as from a link
            problem._raise_link(incident_id, at, opened_by)
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
        for name in LIST_FIELDS:
            if name in wanted:
                wanted[name] = distinct(wanted[name])
        wanted["priority"] = priority_of(wanted.get("impact", self.impact), wanted.get("urgency", self.urgency))
        updated = {name: value for name, value in sorted(wanted.items()) if getattr(self, name) != value}
        if not updated:
            return
        before = list(self.related_incidents)
        for name, value in updated.items():
            self._line(name, getattr(self, name), value, at, actor)
            setattr(self, name, value)
        self._raise(ProblemUpdated(problem_id=self.id, changes=updated, updated_at=at, actor=actor), at)
        # A new list of incidents is links and unlinks: the incidents hear of them as of any other.
        for incident_id in before:
            if incident_id not in self.related_incidents:
                self._raise(ProblemIncidentUnlinked(problem_id=self.id, incident_id=incident_id, at=at, actor=actor),
                            at)
        for incident_id in self.related_incidents:
            if incident_id not in before:
                self._raise_link(incident_id, at, actor)

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
        self._raise(ProblemResolved(problem_id=self.id, number=self.number, resolution_code=code, notes=notes,
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
        self._raise_link(incident_id, at, actor)

    def unlink_incident(self, incident_id: str, at: datetime, *, actor: str = SYSTEM) -> None:
        """Idempotent: an incident not linked raises nothing."""
        if incident_id not in self.related_incidents:
            return
        self._check_not_final("unlinked from an incident")
        self.related_incidents = [i for i in self.related_incidents if i != incident_id]
        self._line("related_incidents", incident_id, None, at, actor)
        self._raise(ProblemIncidentUnlinked(problem_id=self.id, incident_id=incident_id, at=at, actor=actor), at)

    # -- the known error -------------------------------------------------------------------

    def publish_known_error(self, *, symptoms: str, workaround: str, title: str | None,
                            affected_cis: list[str] | None, at: datetime, existing: KnownError | None,
                            new_id: str, new_number: str, actor: str = SYSTEM) -> KnownError:
        """Documents the problem as a known error, or revises the one it has (the same record, one revision
        more). The event carries the linked incidents, whose open ones get the workaround (never a call from
        here); republishing what is already published, unchanged, raises nothing."""
        if self.state not in KNOWN_ERROR_STATES:
            raise Conflict(f"problem {self.number} is {self.state}: a known error is published in "
                           f"{', '.join(sorted(KNOWN_ERROR_STATES))}", current_state=self.state,
                           allowed_states=sorted(KNOWN_ERROR_STATES))
        if self.root_cause is None or self.cause_code is None:
            raise Conflict(f"problem {self.number} has no root cause: identify it before publishing a known error")
        wanted = dict(title=(title or self.short_description).strip(), symptoms=_required(symptoms, "symptoms"),
                      workaround=_required(workaround, "a workaround"), root_cause=self.root_cause,
                      cause_code=self.cause_code,
                      affected_cis=distinct(self.affected_cis if affected_cis is None else affected_cis))
        if existing is None:
            known = KnownError(id=new_id, number=new_number, problem_id=self.id, problem_number=self.number,
                               state=KnownErrorState.PUBLISHED, revision=1, published_at=at, published_by=actor,
                               version=1, **wanted)
        elif existing.state is KnownErrorState.PUBLISHED and all(getattr(existing, k) == v for k, v in wanted.items()):
            return existing
        else:
            known = existing
            known.revise(wanted, at, actor)
        self._line("known_error", self.known_error_number, f"{known.number} (revision {known.revision})", at, actor)
        self.known_error_id, self.known_error_number, self.workaround = known.id, known.number, known.workaround
        self._raise(ProblemKnownErrorPublished(
            problem_id=self.id, known_error_id=known.id, number=known.number, problem_number=self.number,
            title=known.title, symptoms=known.symptoms, workaround=known.workaround,
            affected_cis=known.affected_cis, incident_ids=list(self.related_incidents), revision=known.revision,
            published_at=at, actor=actor), at)
        return known

    def retire_known_error(self, known: KnownError, reason: str, at: datetime, *, actor: str = SYSTEM) -> None:
        """The known error no longer applies: its workaround is no longer offered to incidents linked later."""
        if known.problem_id != self.id:
            raise InvalidValue(f"known error {known.number} is not problem {self.number}'s")
        known.retire(_required(reason, "a reason"), at)
        self.workaround = None
        self._line("known_error", known.number, None, at, actor)
        self._raise(ProblemKnownErrorRetired(problem_id=self.id, known_error_id=known.id, number=known.number,
                                             retired_at=at, actor=actor), at)

    # -- dispatch (issue 17) ----------------------------------------------------------------------

    def take_dispatch(self, decision: RecordDispatched, at: datetime) -> bool:
        """Assigned as the requests service's dispatch rules decided (the PATCH's path: itsm.problem.updated), with a
        work note naming the rule, its version and the method, unless someone assigned it meanwhile or it is resolved,
        closed or canceled (itsm_kit.dispatch); False when it changes nothing."""
        taken = dispatched_assignment(decision, group=self.assignment_group, assignee=self.assignee,
                                      is_open=self.state not in FINAL_STATES | {State.RESOLVED},
                                      dispatched_at=self.dispatched_at)
        if taken is None:
            return False
        self.dispatched_at = decision.decided_at
        self.update({"assignment_group": taken[0], "assignee": taken[1]}, at, actor=DISPATCH)
        self.add_work_note(dispatch_note(decision, *taken), at, actor=DISPATCH)
        return True

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

    def _raise_link(self, incident_id: str, at: datetime, actor: str) -> None:
        self._raise(ProblemIncidentLinked(
            problem_id=self.id, incident_id=incident_id, at=at, actor=actor, known_error_id=self.known_error_id,
            known_error_number=self.known_error_number, workaround=self.workaround), at)

    def _line(self, name: str, old: object, new: object, at: datetime, actor: str) -> None:
        self.activity.append(Activity(ActivityKind.FIELD, actor, at, field=name, old_value=activity_text(old),
                                      new_value=activity_text(new)))

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)


class KnownErrorState(StrEnum):
    PUBLISHED = "published"
    RETIRED = "retired"


@dataclass
class KnownError:
    """A problem documented for the desk: what people see (symptoms), how to get them going (the workaround),
    and why (the problem's root cause, copied when published). Its problem raises its events."""

    id: str
    number: str
    problem_id: str
    problem_number: str
    title: str
    symptoms: str
    workaround: str
    root_cause: str
    cause_code: CauseCode
    affected_cis: list[str]
    state: KnownErrorState
    revision: int
    published_at: datetime
    published_by: str
    retired_at: datetime | None = None
    retired_reason: str | None = None
    version: int = 0

    def revise(self, wanted: Mapping[str, Any], at: datetime, actor: str) -> None:
        """Published again, with what changed: a retired one comes back."""
        for name, value in wanted.items():
            setattr(self, name, value)
        self.state, self.retired_at, self.retired_reason = KnownErrorState.PUBLISHED, None, None
        self.revision += 1
        self.published_at, self.published_by = at, actor
        self.version += 1

    def retire(self, reason: str, at: datetime) -> None:
        if self.state is KnownErrorState.RETIRED:
            raise Conflict(f"known error {self.number} is already retired", current_state=self.state)
        self.state, self.retired_at, self.retired_reason = KnownErrorState.RETIRED, at, reason
        self.version += 1


# -- detection: recurring incidents found in the incident stream --------------------------------
# Rules are data that admins manage; what a run of new incidents means for each
# (dimension, value) it touched is decided here, purely, from the counts the store gives.

class Dimension(StrEnum):
    CI = "ci"
    BUSINESS_SERVICE = "business_service"
    CATEGORY = "category"


DIMENSION_LABELS: Mapping[Dimension, str] = {
    Dimension.CI: "CI", Dimension.BUSINESS_SERVICE: "business service", Dimension.CATEGORY: "category"}
RULE_FIELDS = frozenset({"name", "threshold", "window_minutes", "enabled", "impact", "urgency", "assignment_group"})
RULE_NOT_NULL = RULE_FIELDS - {"assignment_group"}
MAX_WINDOW_MINUTES = 43_200  # 30 days: the observations kept cover it


@dataclass
class DetectionRule(Configuration):
    """N incidents (threshold) on the same CI, business service or category within window_minutes open a candidate
    problem with this impact, urgency and assignment group, linking them."""

    id: str
    name: str
    dimension: Dimension
    threshold: int
    window_minutes: int
    enabled: bool
    impact: int
    urgency: int
    assignment_group: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str = SYSTEM
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = RULE_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = RULE_NOT_NULL

    @classmethod
    def create(cls, *, id: str, name: str, dimension: str, threshold: int, window_minutes: int, enabled: bool,
               impact: int, urgency: int, assignment_group: str | None, at: datetime,
               actor: str = SYSTEM) -> DetectionRule:
        rule = cls(id=id, name=name, dimension=choice(Dimension, dimension, "a dimension"), threshold=threshold,
                   window_minutes=window_minutes, enabled=enabled, impact=impact, urgency=urgency,
                   assignment_group=assignment_group, created_at=at, updated_at=at, updated_by=actor)
        rule._check()
        return rule

    @property
    def priority(self) -> int:
        return priority_of(self.impact, self.urgency)

    def _check(self) -> None:
        _required(self.name, "a rule's name")
        if not 2 <= self.threshold <= MAX_LINKED_INCIDENTS:
            raise InvalidValue(f"a rule's threshold runs from 2 to {MAX_LINKED_INCIDENTS}, got {self.threshold}")
        if not 1 <= self.window_minutes <= MAX_WINDOW_MINUTES:
            raise InvalidValue(f"a rule's window runs from 1 to {MAX_WINDOW_MINUTES} minutes, "
                               f"got {self.window_minutes}")
        priority_of(self.impact, self.urgency)  # both 1..3


@dataclass(frozen=True)
class Recurrence:
    """What the incident stream says of one value of a dimension once a run of new incidents is observed."""

    dimension: Dimension
    value: str
    new: tuple[str, ...]  # the run's new incidents with this value, oldest first
    counts: Mapping[str, int]  # rule id -> incidents with this value opened within the rule's window
    open_problem: str | None = None  # the problem detection opened for it (any rule) and that still takes links
    linked: frozenset[str] = frozenset()  # of `new`, those some problem already links


@dataclass(frozen=True)
class OpenCandidate:
    rule: DetectionRule
    dimension: Dimension
    value: str
    count: int


@dataclass(frozen=True)
class LinkTo:
    problem_id: str
    incident_ids: tuple[str, ...]


def decide(rules: list[DetectionRule], seen: Recurrence) -> OpenCandidate | LinkTo | None:
    """Nothing until an enabled rule of the dimension counts at least its threshold; then the new incidents join
    the problem detection already opened for the value, or one candidate problem is opened (by the most urgent rule
    that fired, the narrowest window breaking ties)."""
    fired = [r for r in rules if r.enabled and r.dimension is seen.dimension
             and seen.counts.get(r.id, 0) >= r.threshold]
    if not fired:
        return None
    if seen.open_problem is not None:
        unlinked = tuple(i for i in seen.new if i not in seen.linked)
        return LinkTo(seen.open_problem, unlinked) if unlinked else None
    rule = min(fired, key=lambda r: (r.priority, r.window_minutes, r.id))
    return OpenCandidate(rule, seen.dimension, seen.value, seen.counts[rule.id])


def window_text(minutes: int) -> str:
    if minutes % 1440 == 0 and minutes > 2880:
        return f"{minutes // 1440} days"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def open_candidate(found: OpenCandidate, *, id: str, number: str, incident_ids: list[str], at: datetime) -> Problem:
    """The candidate problem a rule opens: its priority from the rule's impact x urgency, the rule and what it
    counted on stamped on it (and on its itsm.problem.opened), and each incident linked as a person links one
    (itsm.problem.incident_linked, so that the incidents service shows the problem on each)."""
    rule, label = found.rule, DIMENSION_LABELS[found.dimension]
    window = window_text(rule.window_minutes)
    head, tail = f"Recurring incidents on {label} ", f": {found.count} within {window}"
    room = 160 - len(head) - len(tail)  # a short description's length
    value = found.value if len(found.value) <= room else found.value[:room - 1] + "…"
    problem = Problem.open(
        id=id, number=number, short_description=f"{head}{value}{tail}",
        description=(f"Opened by detection rule {rule.name!r}: {found.count} incidents on {label} {found.value} "
                     f"within {window} (threshold {rule.threshold}). A candidate: assess whether they share a "
                     "cause, or cancel it."),
        impact=rule.impact, urgency=rule.urgency, at=at, assignment_group=rule.assignment_group,
        # A CMDB id fits the affected CIs; a CI named by a longer free text does not.
        affected_cis=[found.value] if found.dimension is Dimension.CI and len(found.value) <= 64 else [],
    )
    problem.detection_rule_id, problem.detected_on, problem.detected_value = rule.id, found.dimension.value, found.value
    sequence, opened = problem.events[0]  # the opened event tells who opened it: this rule, on this value
    problem.events[0] = (sequence, opened.model_copy(update={
        "detection_rule_id": rule.id, "detected_on": found.dimension.value, "detected_value": found.value}))
    for incident_id in distinct(incident_ids)[:MAX_LINKED_INCIDENTS]:
        problem.link_incident(incident_id, at)
    return problem


# -- links asked for from the incident's side ----------------------------------------------------

def link_refusal(problem: Problem | None, problem_id: str, incident_id: str) -> str | None:
    """Why the problem cannot take the incident an agent linked to it from the incident's side; None if it can."""
    if problem is None:
        return f"there is no problem {problem_id}"
    if incident_id in problem.related_incidents:
        return None
    if problem.state in FINAL_STATES:
        return f"problem {problem.number} is {problem.state}: it takes no more incidents"
    if len(problem.related_incidents) >= MAX_LINKED_INCIDENTS:
        return f"problem {problem.number} already has {MAX_LINKED_INCIDENTS} linked incidents, the most it keeps"
    return None


@dataclass
class Notice:
    """Events about a problem that change nothing of it (a refused link, a suggestion), or about one that does not
    exist: the unit of work stages them as it does an aggregate's, under the problem's id, numbered with its
    current version (0 when there is none) so that they take no number from its changes."""

    id: str
    sequence: int = 0
    events: list[tuple[int, EventData]] = field(default_factory=list)

    def tell(self, event: EventData) -> None:
        self.events.append((self.sequence, event))


# -- suggestions -------------------------------------------------------------------------------
# ts_rank of the problem's text (short description A, description B, root cause C; its published known error's
# title and symptoms A) against the OR of the incident's lexemes: about the weighted share of the incident's words
# the problem has (one word of five found in a short description scores about 0.12). Below the minimum, a single
# shared word is noise: on the labelled set (tests/integration/test_problem_suggestions.py) the right problems scored
# 0.19-0.52, one-word matches of unrelated text 0.10-0.13.
SUGGESTIONS_PER_INCIDENT = 3
MIN_SUGGESTION_SCORE = 0.15
# Characters of an incident's text searched: the summary and the start of the description. The score is a share of
# the incident's words, so a long alert body would dilute a real match below the minimum.
MAX_SEARCH_TEXT = 500

# Age buckets of the aging report (by opened_at): name -> (from, to) days, the last open-ended.
AGE_BUCKET_DAYS: Mapping[str, tuple[int, int | None]] = {"0-7d": (0, 7), "7-30d": (7, 30), "30-90d": (30, 90),
                                                         "90d+": (90, None)}
