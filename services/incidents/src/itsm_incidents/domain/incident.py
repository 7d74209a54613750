"""Incident rules, as ITIL and ServiceNow define them. Pure: no I/O.

An Incident collects the events its changes raise and the lines of its timeline; the unit
of work stores them with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from itsm_contracts.events import EventData
from itsm_contracts.events.alerts import AlertReceived, Severity
from itsm_contracts.events.sla import SlaBreached
from itsm_contracts.events.requests import RecordDispatched, WorkOrderApplied
from itsm_kit.dispatch import DISPATCH, dispatch_note, dispatched_assignment
from itsm_kit.work_orders import applied_note, apply_fields
from itsm_kit.domain import (
    DEFAULT_PRIORITY_MATRIX, PRIORITY_LABELS, SYSTEM, Activity, ActivityKind, Conflict, InvalidValue, RaisesEvents,
    activity_text, check_patch, check_transition, choice, priority_of,
)
from itsm_contracts.events.incidents import (
    IncidentAlertAttached,
    IncidentAssigned,
    IncidentCanceled,
    IncidentClosed,
    IncidentCommented,
    IncidentEscalated,
    IncidentOpened,
    IncidentPriorityChanged,
    IncidentProblemLinked,
    IncidentProblemUnlinked,
    IncidentReopened,
    IncidentResolved,
    IncidentStateChanged,
    IncidentUpdated,
    IncidentWorkNoteAdded,
)


class State(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELED = "canceled"


# The whole lifecycle: from each state, where an incident may go next.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.IN_PROGRESS, State.ON_HOLD, State.RESOLVED, State.CANCELED}),
    State.IN_PROGRESS: frozenset({State.ON_HOLD, State.RESOLVED, State.CANCELED}),
    State.ON_HOLD: frozenset({State.IN_PROGRESS, State.RESOLVED, State.CANCELED}),
    State.RESOLVED: frozenset({State.IN_PROGRESS, State.CLOSED}),  # reopen, or close
    State.CLOSED: frozenset(),
    State.CANCELED: frozenset(),
}

OPEN_STATES = frozenset({State.NEW, State.IN_PROGRESS, State.ON_HOLD})

# Impact x urgency -> priority when no other is given: the default matrix. The one in use is
# the admin's, stored in the database, which handlers pass in.
PRIORITY_MATRIX = DEFAULT_PRIORITY_MATRIX

# What a monitoring severity says about impact and urgency.
SEVERITY_IMPACT_URGENCY: dict[Severity, tuple[int, int]] = {
    "critical": (1, 1),  # P1
    "error": (1, 2),     # P2
    "warning": (2, 2),   # P3
    "info": (3, 2),      # P4
}

AUTO_RESOLUTION_CODE = "resolved_by_monitoring"
# An incident resolved because the problem behind it was fixed (ServiceNow's "Resolved by problem").
PROBLEM_RESOLUTION_CODE = "resolved_by_problem"
# An incident resolved in a connected tool (PagerDuty, Jira) that mirrors it (issue 16).
EXTERNAL_RESOLUTION_CODE = "resolved_externally"


class HoldReason(StrEnum):
    AWAITING_CALLER = "awaiting_caller"
    AWAITING_CHANGE = "awaiting_change"
    AWAITING_VENDOR = "awaiting_vendor"
    AWAITING_PROBLEM = "awaiting_problem"


# ServiceNow: children follow their parent on hold for a change, problem or vendor; not
# while it awaits its caller, who is not theirs.
HOLD_REASONS_CHILDREN_FOLLOW = frozenset({HoldReason.AWAITING_CHANGE, HoldReason.AWAITING_PROBLEM,
                                          HoldReason.AWAITING_VENDOR})

# Parent/child: the parent's new state -> the child states that follow it there. Closed and
# canceled are absent: children are never closed with their parent (ServiceNow).
CHILDREN_FOLLOW: dict[State, frozenset[State]] = {
    State.IN_PROGRESS: frozenset({State.NEW, State.ON_HOLD, State.RESOLVED}),  # a parent's reopen reopens them
    State.ON_HOLD: frozenset({State.NEW, State.IN_PROGRESS}),
    State.RESOLVED: OPEN_STATES,
}

# Fields a PATCH may set with no rule beyond their value, and published as itsm.incident.updated.
PLAIN_FIELDS = frozenset({"short_description", "description", "caller", "category", "subcategory", "affected_ci",
                          "business_service", "major"})
UPDATABLE_FIELDS = PLAIN_FIELDS | {"assignment_group", "assignee", "impact", "urgency", "priority",
                                   "priority_override_reason", "parent_id"}
NOT_NULL_FIELDS = frozenset({"short_description", "description", "major", "impact", "urgency"})
# What a work-order template may set (issue 17): what an agent may PATCH, but the parent (a record of its own).
WORK_ORDER_FIELDS = UPDATABLE_FIELDS - {"parent_id"}

MONITORING = "monitoring"
SLA = "sla"




def _required(text: str | None, what: str) -> str:
    if text is None or not text.strip():
        raise InvalidValue(f"{what} must not be blank")
    return text


def is_reassignment(group: str | None, assignee: str | None, new_group: str | None, new_assignee: str | None) -> bool:
    """Work moved away from a group or person who already had it (ServiceNow's reassignment count).

    Filling an empty assignment is not one: the first assignment, or naming a person within
    the group that already holds the incident.
    """
    return (new_group != group and group is not None) or (new_assignee != assignee and assignee is not None)


def valid_matrix(cells: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int], int]:
    """An admin's priority matrix from (impact, urgency, priority) cells: each of the 9 impact x
    urgency pairs exactly once, each priority 1..5."""
    cells = list(cells)
    matrix = {(impact, urgency): priority for impact, urgency, priority in cells}
    wanted = set(DEFAULT_PRIORITY_MATRIX)
    if set(matrix) != wanted or len(cells) != len(wanted):
        raise InvalidValue("the priority matrix needs each of the 9 impact x urgency cells (1..3 each) once",
                           missing=[list(c) for c in sorted(wanted - set(matrix))],
                           unexpected=[list(c) for c in sorted(set(matrix) - wanted)])
    if wrong := sorted(c for c, p in matrix.items() if p not in PRIORITY_LABELS):
        raise InvalidValue("priorities run from 1 (critical) to 5 (planning)", cells=[list(c) for c in wrong])
    return matrix


def is_due_for_auto_close(incident: Incident, now: datetime, after: timedelta) -> bool:
    """ServiceNow's auto-close: resolved for longer than the setting, never a major incident; 0 disables it."""
    return (after > timedelta(0) and incident.state is State.RESOLVED and not incident.major
            and incident.resolved_at is not None and incident.resolved_at <= now - after)


@dataclass
class Incident(RaisesEvents):
    id: str
    number: str
    short_description: str
    description: str
    state: State
    impact: int
    urgency: int
    priority: int
    origin: str
    opened_at: datetime
    updated_at: datetime
    version: int = 0
    dedup_key: str | None = None
    alert_count: int = 0
    last_seen_at: datetime | None = None
    hold_reason: str | None = None
    resolved_at: datetime | None = None
    resolution_code: str | None = None
    resolution_notes: str | None = None
    caller: str | None = None
    category: str | None = None
    subcategory: str | None = None
    assignment_group: str | None = None
    assignee: str | None = None
    reassignment_count: int = 0
    affected_ci: str | None = None
    business_service: str | None = None
    major: bool = False
    parent_id: str | None = None
    priority_override_reason: str | None = None
    reopen_count: int = 0
    closed_at: datetime | None = None
    escalated: bool = False
    escalation_group: str | None = None
    escalated_at: datetime | None = None
    integration_id: str | None = None  # the monitoring integration whose alert opened it: its alerts' scope
    problem_id: str | None = None  # the problem it is linked to, from either side
    problem_changed_at: datetime | None = None  # when problem_id last changed: older problem events are stale
    dispatched_at: datetime | None = None  # issue 17: when the dispatch decision applied last was made
    # (sequence, event) raised since loading; the handler stores them with the incident.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)
    # Timeline lines since loading, stored by the handler with the incident.
    activity: list[Activity] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(cls, *, id: str, number: str, short_description: str, description: str, impact: int, urgency: int,
             origin: str, at: datetime, dedup_key: str | None = None, caller: str | None = None,
             category: str | None = None, subcategory: str | None = None, assignment_group: str | None = None,
             assignee: str | None = None, affected_ci: str | None = None, business_service: str | None = None,
             major: bool = False, parent: Incident | None = None, actor: str | None = None,
             matrix: Mapping[tuple[int, int], int] = PRIORITY_MATRIX) -> Incident:
        if not short_description.strip():
            raise InvalidValue("an incident needs a short description")
        if parent is not None:
            check_parent(id, parent, has_children=False)
        actor = actor or (MONITORING if origin == "monitoring" else SYSTEM)
        incident = cls(
            id=id, number=number, short_description=short_description.strip(), description=description,
            state=State.NEW, impact=impact, urgency=urgency, priority=priority_of(impact, urgency, matrix),
            origin=origin, opened_at=at, updated_at=at, dedup_key=dedup_key,
            alert_count=1 if dedup_key else 0, last_seen_at=at if dedup_key else None,
            caller=caller, category=category, subcategory=subcategory, assignment_group=assignment_group,
            assignee=assignee, affected_ci=affected_ci, business_service=business_service, major=major,
            parent_id=parent.id if parent else None,
        )
        incident.activity.append(Activity(ActivityKind.OPENED, actor, at, new_value=number,
                                          text=incident.short_description))
        incident._raise(IncidentOpened(
            incident_id=id, number=number, short_description=incident.short_description, description=description,
            state=incident.state, impact=impact, urgency=urgency, priority=incident.priority, origin=origin,
            dedup_key=dedup_key, opened_at=at, caller=caller, category=category, subcategory=subcategory,
            assignment_group=assignment_group, assignee=assignee, affected_ci=affected_ci,
            business_service=business_service, major=major, parent_id=incident.parent_id, actor=actor,
        ), at)
        return incident

    @classmethod
    def open_from_alert(cls, *, id: str, number: str, alert: AlertReceived,
                        matrix: Mapping[tuple[int, int], int] = DEFAULT_PRIORITY_MATRIX) -> Incident:
        """The routing rule's impact and urgency win over what the severity suggests."""
        impact, urgency = SEVERITY_IMPACT_URGENCY[alert.severity]
        routing = alert.routing
        incident = cls.open(
            # A summary of only (Unicode) whitespace is none: the dedup key stands in, so the alert
            # still becomes an incident instead of failing on the way (dead-lettered, never seen).
            id=id, number=number, short_description=alert.summary[:160].strip() or alert.dedup_key,
            description=alert.description, impact=routing.impact or impact, urgency=routing.urgency or urgency,
            origin="monitoring", at=alert.received_at, dedup_key=alert.dedup_key, caller=None,
            category=_fit(routing.category, 100), assignment_group=_fit(routing.assignment_group, 100),
            affected_ci=_fit(routing.affected_ci, 255), business_service=_fit(routing.business_service, 255),
            matrix=matrix,
        )
        incident.integration_id = alert.integration_id
        return incident

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def attach_alert(self, dedup_key: str, at: datetime) -> None:
        """A repeat of an alert this incident tracks, or another alert of its storm: count it."""
        self.alert_count += 1
        self.last_seen_at = max(self.last_seen_at or at, at)
        self._raise(IncidentAlertAttached(
            incident_id=self.id, dedup_key=dedup_key, alert_count=self.alert_count, last_seen_at=self.last_seen_at,
        ), at)

    # -- state -----------------------------------------------------------------------------

    def move_to(self, wanted: State, at: datetime, hold_reason: str | None = None, *, actor: str = SYSTEM,
                comment: str | None = None, reopen_window: timedelta | None = None) -> None:
        """A state change a person asked for; resolving has its own command (it needs a resolution).

        `comment` is recorded as a caller-visible comment; putting an incident on hold awaiting
        its caller needs one (ServiceNow), so the caller knows what is awaited.
        """
        if wanted is State.RESOLVED:
            raise InvalidValue("resolving needs a resolution code and notes: resolve the incident instead")
        check_transition(TRANSITIONS, "an incident", self.state, wanted)
        if wanted is State.ON_HOLD:
            hold_reason = choice(HoldReason, hold_reason or "", "a hold reason").value
            if hold_reason == HoldReason.AWAITING_CALLER:
                _required(comment, "a comment to the caller (awaiting caller)")
        elif hold_reason is not None:
            raise InvalidValue("a hold reason goes only with on_hold")
        if comment is not None:
            _required(comment, "a comment")
        if self.state is State.RESOLVED and wanted is State.IN_PROGRESS:
            self.reopen(at, actor=actor, window=reopen_window)
        elif wanted is State.CLOSED:
            self.close(at, actor=actor)
        elif wanted is State.CANCELED:
            self._transition(State.CANCELED, at, actor)
            self._raise(IncidentCanceled(incident_id=self.id, canceled_at=at, actor=actor), at)
        else:
            self._transition(wanted, at, actor, hold_reason)
        if comment is not None:
            self._comment(comment, at, actor)

    def acknowledge(self, at: datetime, *, actor: str = MONITORING) -> None:
        """Someone is on it (an acknowledged alert): a new incident moves in progress; others stay as they are."""
        if self.state is State.NEW:
            self._transition(State.IN_PROGRESS, at, actor)

    def resolve(self, code: str, notes: str, at: datetime, *, actor: str = SYSTEM) -> None:
        if not code.strip() or not notes.strip():
            raise InvalidValue("resolving needs a resolution code and resolution notes")
        self._transition(State.RESOLVED, at, actor)
        self.resolved_at = at
        self._set("resolution_code", code, at, actor)
        self._set("resolution_notes", notes, at, actor)
        self._raise(IncidentResolved(incident_id=self.id, resolution_code=code, resolution_notes=notes,
                                     resolved_at=at, actor=actor), at)

    def reopen(self, at: datetime, *, actor: str = SYSTEM, window: timedelta | None = None) -> None:
        """Resolved -> In Progress, within `window` of the resolution (None: any time, as for a parent's children).

        The resolution is cleared (the timeline keeps it): resolving again needs a new one,
        and the auto-close clock starts again then.
        """
        check_transition(TRANSITIONS, "an incident", self.state, State.IN_PROGRESS)
        if window is not None and self.resolved_at is not None and at > self.resolved_at + window:
            deadline = self.resolved_at + window
            raise Conflict(f"incident {self.number} was resolved at {self.resolved_at.isoformat()}; it could be "
                           f"reopened until {deadline.isoformat()} ({_days(window)} after resolution). "
                           "Open a new incident instead.",
                           resolved_at=self.resolved_at.isoformat(), reopen_deadline=deadline.isoformat())
        self._transition(State.IN_PROGRESS, at, actor)
        self.reopen_count += 1
        self.resolved_at = None
        self._set("resolution_code", None, at, actor)
        self._set("resolution_notes", None, at, actor)
        self._raise(IncidentReopened(incident_id=self.id, reopen_count=self.reopen_count, reopened_at=at,
                                     actor=actor), at)

    def close(self, at: datetime, *, actor: str = SYSTEM, automatically: bool = False) -> None:
        self._transition(State.CLOSED, at, actor)
        self.closed_at = at
        self._raise(IncidentClosed(incident_id=self.id, closed_at=at, automatically=automatically, actor=actor), at)

    def follow(self, parent: Incident, at: datetime, *, actor: str) -> None:
        """This child follows its parent's new state, if CHILDREN_FOLLOW says so; the resolution is copied."""
        if self.state not in CHILDREN_FOLLOW.get(parent.state, frozenset()):
            return
        if parent.state is State.RESOLVED:
            self.resolve(parent.resolution_code or "", parent.resolution_notes or "", at, actor=actor)
        elif parent.state is State.ON_HOLD:
            if parent.hold_reason in HOLD_REASONS_CHILDREN_FOLLOW:
                self._transition(State.ON_HOLD, at, actor, parent.hold_reason)
        elif self.state is State.RESOLVED:
            self.reopen(at, actor=actor)  # the parent's reopen was within its window: no second check
        else:
            self._transition(State.IN_PROGRESS, at, actor)

    def _transition(self, wanted: State, at: datetime, actor: str, hold_reason: str | None = None) -> None:
        check_transition(TRANSITIONS, "an incident", self.state, wanted)
        previous = self.state
        self._set("state", wanted, at, actor)
        self._set("hold_reason", hold_reason if wanted is State.ON_HOLD else None, at, actor)
        self._raise(IncidentStateChanged(incident_id=self.id, from_state=previous, to_state=wanted,
                                         hold_reason=self.hold_reason, changed_at=at, actor=actor), at)

    # -- the problem behind it -----------------------------------------------------------------
    # An incident has one problem. Links come from either side, always as events: an agent's link here raises
    # itsm.incident.problem_linked/unlinked, which the problems service follows; a link made on the problem comes
    # here as its event and is published as itsm.incident.updated, so neither side echoes the other's.
    # The problems service answers an agent's link with its own event, dated when the agent linked; the problems'
    # events come on their own partitions, so that answer can arrive after the agent moved the link again. A
    # problem's event older than the incident's last link change is stale, and changes nothing.

    def link_to_problem(self, problem_id: str, at: datetime, *, actor: str) -> bool:
        """An agent links it to a problem from the incident's side, in any state (past incidents are linked too);
        a link to another problem moves it, and names the one it left so that problem drops it. False if it
        already was linked to this one."""
        previous = self.problem_id
        if not self._set_problem(problem_id, at, actor):
            return False
        self._raise(IncidentProblemLinked(incident_id=self.id, problem_id=problem_id, previous_problem_id=previous,
                                          linked_at=at, actor=actor), at)
        return True

    def unlink_from_problem(self, at: datetime, *, actor: str) -> bool:
        """An agent unlinks it from its problem from the incident's side; False if it had none."""
        previous = self.problem_id
        if not self._set_problem(None, at, actor):
            return False
        self._raise(IncidentProblemUnlinked(incident_id=self.id, problem_id=previous, unlinked_at=at, actor=actor), at)
        return True

    def link_problem(self, problem_id: str, at: datetime, *, actor: str) -> bool:
        """The problem linked it (its event): a later link moves it, and the problem it moved away from is told
        to drop it (an incident has one problem); False if it already was linked to this one, or the event is
        stale."""
        previous = self.problem_id
        if self._stale(at) or not self._set_problem(problem_id, at, actor):
            return False
        self._raise(IncidentUpdated(incident_id=self.id, changes={"problem_id": problem_id}, updated_at=at,
                                    actor=actor), at)
        if previous is not None:
            self._raise(IncidentProblemUnlinked(incident_id=self.id, problem_id=previous, unlinked_at=at,
                                                actor=actor), at)
        return True

    def unlink_problem(self, problem_id: str, at: datetime, *, actor: str) -> bool:
        """Unlinked from a problem: cleared only if it still names that one (a late unlink from an older
        problem leaves the newer link alone) and the event is not stale."""
        if self.problem_id != problem_id or self._stale(at):
            return False
        self._clear_problem(at, actor)
        return True

    def problem_refused_link(self, problem_id: str, reason: str, at: datetime, *, actor: str) -> bool:
        """The problem refused the link an agent made here (unknown, closed, full...): taken back, with a work note
        saying why, if the incident still names it (a refusal is not an unlink: nothing to tell the problem). Never
        stale: whenever the link to that problem was made, the problem cannot take it."""
        if self.problem_id != problem_id:
            return False
        self._clear_problem(at, actor)
        self.add_work_note(f"The link to problem {problem_id} was refused: {reason}", at, actor=actor)
        return True

    def _stale(self, at: datetime) -> bool:
        return self.problem_changed_at is not None and at < self.problem_changed_at

    def _set_problem(self, problem_id: str | None, at: datetime, actor: str) -> bool:
        if not self._set("problem_id", problem_id, at, actor):
            return False
        self.problem_changed_at = max(at, self.problem_changed_at or at)
        return True

    def _clear_problem(self, at: datetime, actor: str) -> None:
        self._set_problem(None, at, actor)
        self._raise(IncidentUpdated(incident_id=self.id, changes={"problem_id": None}, updated_at=at, actor=actor), at)

    def note_workaround(self, problem_id: str, known_error: str, workaround: str, at: datetime, *,
                        actor: str) -> bool:
        """A known error's workaround, for whoever works on the incident: a work note, on an open incident still
        linked to that problem (a closed one keeps its history; one moved to another problem is not its case)."""
        if not self.is_open or self.problem_id != problem_id:
            return False
        self.add_work_note(f"Workaround from known error {known_error}: {workaround}", at, actor=actor)
        return True

    def note_article(self, number: str, title: str, at: datetime, *, actor: str) -> None:
        """A knowledge article attached to the incident (issue 18): whoever reads its timeline sees what helped."""
        self.add_work_note(f"Knowledge article {number} '{title}' attached: it helped resolve this", at, actor=actor)

    def resolve_by_problem(self, problem_id: str, resolution_code: str, notes: str, at: datetime, *,
                           actor: str, number: str | None = None) -> bool:
        """The problem behind it was resolved with the option to resolve its incidents: an open one is resolved
        with the problem's notes (naming it by its number, which people read, when the event has it); one already
        resolved, closed or canceled stays as it is."""
        if not self.is_open:
            return False
        text = f"Resolved by problem {number or problem_id} ({resolution_code})"
        text += f": {notes}" if notes.strip() else "."
        self.resolve(PROBLEM_RESOLUTION_CODE, text, at, actor=actor)
        return True

    # -- connected tools (issue 16: connectors) -------------------------------------------------
    # PagerDuty and Jira mirror incidents; what people do there comes back as itsm.external_record.* events. The
    # incident stays authoritative: a tool's acknowledgement or resolution is applied only where the lifecycle table
    # allows it, and the notifications service never sends the resulting change back to the tool that caused it.

    def acknowledge_in(self, note: str, at: datetime, *, actor: str) -> bool:
        """Acknowledged in a tool: `note` (who, where) as a work note on an open incident, which moves in progress
        if it was new (the only state before in progress); False for one resolved, closed or canceled (a late
        acknowledgement changes nothing)."""
        if not self.is_open:
            return False
        if self.state is State.NEW:
            self._transition(State.IN_PROGRESS, at, actor)
        self.add_work_note(note, at, actor=actor)
        return True

    def resolve_in(self, note: str, at: datetime, *, actor: str) -> bool:
        """Resolved in a tool: an open incident is resolved (code resolved_externally, `note` as the resolution
        notes and a work note); one already resolved, closed or canceled stays as it is."""
        if not self.is_open:
            return False
        self.resolve(EXTERNAL_RESOLUTION_CODE, note, at, actor=actor)
        self.add_work_note(note, at, actor=actor)
        return True

    # -- dispatch (issue 17) ----------------------------------------------------------------------
    # The requests service's dispatch rules decide a group (and a person) for an incident opened without one; the
    # decision comes as an event and is taken here unless someone assigned the incident meanwhile.

    def take_dispatch(self, decision: RecordDispatched, at: datetime) -> bool:
        """Assigned as the decision says (the assign path: itsm.incident.assigned, as for a person's assignment), with
        a work note naming the rule, its version and the method; False when it changes nothing (itsm_kit.dispatch)."""
        taken = dispatched_assignment(decision, group=self.assignment_group, assignee=self.assignee,
                                      is_open=self.is_open, dispatched_at=self.dispatched_at)
        if taken is None:
            return False
        self.dispatched_at = decision.decided_at
        self.assign(*taken, at, actor=DISPATCH)
        self.add_work_note(dispatch_note(decision, *taken), at, actor=DISPATCH)
        return True

    def apply_work_order(self, applied: WorkOrderApplied, at: datetime, *,
                         check: Callable[[Mapping[str, Any]], Mapping[str, Any]] = dict,
                         matrix: Mapping[tuple[int, int], int] = PRIORITY_MATRIX) -> bool:
        """A work-order template's fields, set through the PATCH's rules (`check`: the PATCH model's checks), with
        a work note naming the template, its tasks and any field skipped (unknown, or refused now) and why; an
        incident resolved, closed or canceled changes nothing (False)."""
        if not self.is_open:
            return False
        actor = applied.actor or SYSTEM
        skipped = apply_fields(self, applied.fields, lambda incident, changes: incident.update(
            check(changes), at, actor=actor, matrix=matrix), allowed=WORK_ORDER_FIELDS)
        self.add_work_note(applied_note(applied.template, applied.task_numbers or applied.task_ids, skipped), at,
                           actor=actor)
        return True

    # -- comments and notes -----------------------------------------------------------------

    def comment(self, text: str, at: datetime, *, actor: str) -> None:
        """A caller-visible comment. The caller's own comment on an incident awaiting them
        clears the hold and sets it in progress (ServiceNow)."""
        self._comment(_required(text, "a comment"), at, actor)
        if (self.state is State.ON_HOLD and self.hold_reason == HoldReason.AWAITING_CALLER
                and self.caller is not None and actor == self.caller):
            self._transition(State.IN_PROGRESS, at, actor)

    def add_work_note(self, text: str, at: datetime, *, actor: str) -> None:
        _required(text, "a work note")
        self.activity.append(Activity(ActivityKind.WORK_NOTE, actor, at, text=text))
        self._raise(IncidentWorkNoteAdded(incident_id=self.id, text=text, added_at=at, actor=actor), at)

    def escalate(self, note: str, at: datetime, *, group: str | None = None, actor: str = SLA,
                 timer_id: str | None = None, kind: str | None = None) -> None:
        """An SLA breach: a work note says which; an open incident is also marked escalated, with the
        breached definition's escalation group involved (the assignment stays as it is). A closed
        or canceled incident only gets the note."""
        self.add_work_note(note, at, actor=actor)
        if not self.is_open:
            return
        self._set("escalated", True, at, actor)
        if group:
            self._set("escalation_group", group, at, actor)
        self.escalated_at = at
        self._raise(IncidentEscalated(incident_id=self.id, escalation_group=self.escalation_group, escalated_at=at,
                                      reason=note, sla_timer_id=timer_id, sla_kind=kind, actor=actor), at)

    def _comment(self, text: str, at: datetime, actor: str) -> None:
        self.activity.append(Activity(ActivityKind.COMMENT, actor, at, text=text))
        self._raise(IncidentCommented(incident_id=self.id, text=text, commented_at=at, actor=actor), at)

    # -- fields ----------------------------------------------------------------------------

    def update(self, changes: Mapping[str, Any], at: datetime, *, actor: str,
               matrix: Mapping[tuple[int, int], int] = PRIORITY_MATRIX, parent: Incident | None = None,
               has_children: bool = False) -> None:
        """A PATCH: only the fields named change. Assignment, priority and parent keep their own rules
        and events; the other fields are published together as itsm.incident.updated.

        `parent` is the incident `changes["parent_id"]` names (loaded by the handler), and
        `has_children` whether this incident is a parent itself.
        """
        check_patch(changes, UPDATABLE_FIELDS, NOT_NULL_FIELDS)
        if "short_description" in changes:
            _required(changes["short_description"], "the short description")
        updated = {}
        for name in sorted(PLAIN_FIELDS & set(changes)):
            value = changes[name].strip() if name == "short_description" else changes[name]
            if self._set(name, value, at, actor):
                updated[name] = value
        if "parent_id" in changes:
            self._set_parent(parent, changes["parent_id"], has_children, at, actor, updated)
        if "assignment_group" in changes or "assignee" in changes:
            self.assign(changes.get("assignment_group", self.assignment_group),
                        changes.get("assignee", self.assignee), at, actor=actor)
        if "impact" in changes or "urgency" in changes:
            restated = {k: changes[k] for k in ("impact", "urgency") if k in changes and changes[k] != getattr(self, k)}
            impact, urgency = changes.get("impact", self.impact), changes.get("urgency", self.urgency)
            if not self.reprioritise(impact, urgency, at, actor=actor, matrix=matrix):
                updated |= restated
        if "priority" in changes and changes["priority"] is None and changes.get("priority_override_reason") is None:
            self.end_override(at, actor=actor, matrix=matrix)  # priority: null
        elif "priority" in changes or "priority_override_reason" in changes:
            self.override_priority(changes.get("priority"), changes.get("priority_override_reason"), at, actor=actor)
        if updated:
            self._raise(IncidentUpdated(incident_id=self.id, changes=updated, updated_at=at, actor=actor), at)

    def _set_parent(self, parent: Incident | None, parent_id: str | None, has_children: bool, at: datetime,
                    actor: str, updated: dict[str, Any]) -> None:
        if parent_id is not None:
            if parent is None or parent.id != parent_id:
                raise InvalidValue(f"the parent incident {parent_id} does not exist")
            check_parent(self.id, parent, has_children=has_children)
        if self._set("parent_id", parent_id, at, actor):
            updated["parent_id"] = parent_id

    def assign(self, group: str | None, assignee: str | None, at: datetime, *, actor: str = SYSTEM) -> None:
        previous_group, previous_assignee = self.assignment_group, self.assignee
        if (group, assignee) == (previous_group, previous_assignee):
            return
        if is_reassignment(previous_group, previous_assignee, group, assignee):
            self.reassignment_count += 1
        self._set("assignment_group", group, at, actor)
        self._set("assignee", assignee, at, actor)
        self._raise(IncidentAssigned(
            incident_id=self.id, assignment_group=group, assignee=assignee, previous_assignment_group=previous_group,
            previous_assignee=previous_assignee, reassignment_count=self.reassignment_count, assigned_at=at,
            actor=actor,
        ), at)

    def reprioritise(self, impact: int, urgency: int, at: datetime, *, actor: str = SYSTEM,
                     matrix: Mapping[tuple[int, int], int] = PRIORITY_MATRIX) -> bool:
        """New impact or urgency: the priority comes from the matrix again.

        A manual override lapses here: restating impact and urgency is a new assessment, and
        an override reason kept would describe a priority the incident no longer has. With
        impact and urgency unchanged nothing happens, so an override stands until then.
        Returns whether it published itsm.incident.priority_changed (which carries them).
        """
        priority = priority_of(impact, urgency, matrix)
        if (impact, urgency) == (self.impact, self.urgency):
            return False
        self._set("impact", impact, at, actor)
        self._set("urgency", urgency, at, actor)
        return self._matrix_priority(priority, at, actor)

    def end_override(self, at: datetime, *, actor: str = SYSTEM,
                     matrix: Mapping[tuple[int, int], int] = PRIORITY_MATRIX) -> None:
        """Back to the matrix's priority for the current impact and urgency."""
        if self.priority_override_reason is not None:
            self._matrix_priority(priority_of(self.impact, self.urgency, matrix), at, actor)

    def _matrix_priority(self, priority: int, at: datetime, actor: str) -> bool:
        previous, overridden = self.priority, self.priority_override_reason is not None
        self._set("priority_override_reason", None, at, actor)
        if not self._set("priority", priority, at, actor) and not overridden:
            return False
        self._raise(IncidentPriorityChanged(incident_id=self.id, from_priority=previous, to_priority=priority,
                                            impact=self.impact, urgency=self.urgency, changed_at=at, actor=actor), at)
        return True

    def override_priority(self, priority: int | None, reason: str | None, at: datetime, *,
                          actor: str = SYSTEM) -> None:
        """A priority chosen by hand, away from the matrix: it needs a reason, kept on the incident."""
        if priority is None or priority not in PRIORITY_LABELS:
            raise InvalidValue("a priority override names a priority from 1 (critical) to 5 (planning)")
        reason = _required(reason, "the reason for overriding the priority").strip()
        previous = self.priority
        reason_changed = self._set("priority_override_reason", reason, at, actor)
        if not self._set("priority", priority, at, actor) and not reason_changed:
            return
        self._raise(IncidentPriorityChanged(incident_id=self.id, from_priority=previous, to_priority=priority,
                                            impact=self.impact, urgency=self.urgency, changed_at=at,
                                            override_reason=reason, actor=actor), at)

    def _set(self, name: str, value: object, at: datetime, actor: str) -> bool:
        """Change one field and write it on the timeline; False when it already had that value."""
        old = getattr(self, name)
        if old == value:
            return False
        setattr(self, name, value)
        self.activity.append(Activity(ActivityKind.FIELD, actor, at, field=name, old_value=activity_text(old),
                                      new_value=activity_text(value)))
        return True

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)


def check_parent(child_id: str, parent: Incident, *, has_children: bool) -> None:
    """Parent/child is one level deep (a parent's state cascades once, and no cycle can form),
    and a closed or canceled incident takes no new children."""
    if parent.id == child_id:
        raise InvalidValue("an incident cannot be its own parent")
    if parent.parent_id is not None:
        raise InvalidValue(f"{parent.number} is itself a child incident; a parent must be a top-level incident")
    if has_children:
        raise InvalidValue("this incident is a parent itself; parent/child incidents are one level deep")
    if parent.state in (State.CLOSED, State.CANCELED):
        raise Conflict(f"{parent.number} is {parent.state}; it takes no new child incidents",
                       parent_state=parent.state.value)


def _days(window: timedelta) -> str:
    days = window / timedelta(days=1)
    return f"{days:g} day" + ("" if days == 1 else "s")


def _fit(value: str | None, limit: int) -> str | None:
    """Routing values interpolate labels, so their length is only known here: an over-long one is
    cut to what an incident holds rather than failing the alert (which would dead-letter it)."""
    return value[:limit] if value else value


def last_state_change(raised: Iterable[tuple[int, EventData]]) -> IncidentStateChanged | None:
    """The latest move among raised events: what an incident's children follow."""
    moves = [e for _, e in raised if isinstance(e, IncidentStateChanged)]
    return moves[-1] if moves else None


def leads_children(incident: Incident) -> bool:
    """Parents are top-level (a child has no children), and only some states move children."""
    return incident.parent_id is None and incident.state in CHILDREN_FOLLOW


def breach_note(breach: SlaBreached, escalate_to: str | None) -> str:
    """The work note an SLA breach becomes: which target of which definition was due when, and to whom it went."""
    target = _duration(timedelta(seconds=breach.target_seconds))
    note = (f"SLA breached: {breach.kind} target of {breach.policy} ({target}) was due at "
            f"{breach.breached_at:%Y-%m-%d %H:%M:%S} UTC.")
    return note + (f" Escalated to {escalate_to}." if escalate_to else "")


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return " ".join(parts) or "0s"
