"""Incident lifecycle events, published by the incidents service on itsm.incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

# The incident lifecycle's vocabulary, shared by every service that speaks of incident states.
IncidentState = Literal["new", "in_progress", "on_hold", "resolved", "closed", "canceled"]
INCIDENT_STATES: tuple[IncidentState, ...] = get_args(IncidentState)
OPEN_INCIDENT_STATES: frozenset[IncidentState] = frozenset({"new", "in_progress", "on_hold"})


class IncidentEvent(EventData):
    topic = topics.INCIDENTS

    incident_id: str
    # Who made the change: a user id (the gateway's JWT subject), "monitoring" or "system".
    actor: str | None = None


@register
class IncidentOpened(IncidentEvent):
    type = "itsm.incident.opened"

    number: str
    short_description: str
    description: str = ""
    state: IncidentState
    impact: int
    urgency: int
    priority: int
    origin: Literal["monitoring", "manual"]
    dedup_key: str | None = None
    opened_at: datetime
    caller: str | None = None
    category: str | None = None
    subcategory: str | None = None
    assignment_group: str | None = None
    assignee: str | None = None
    affected_ci: str | None = None
    business_service: str | None = None
    major: bool = False
    parent_id: str | None = None


@register
class IncidentAlertAttached(IncidentEvent):
    """A repeat of the alert that opened (or was attached to) an open incident."""

    type = "itsm.incident.alert_attached"

    dedup_key: str
    alert_count: int
    last_seen_at: datetime


@register
class IncidentStateChanged(IncidentEvent):
    type = "itsm.incident.state_changed"

    from_state: IncidentState
    to_state: IncidentState
    hold_reason: str | None = None
    changed_at: datetime


@register
class IncidentPriorityChanged(IncidentEvent):
    type = "itsm.incident.priority_changed"

    from_priority: int
    to_priority: int
    impact: int
    urgency: int
    changed_at: datetime
    # Set when someone chose the priority by hand instead of the impact x urgency matrix.
    override_reason: str | None = None


@register
class IncidentResolved(IncidentEvent):
    type = "itsm.incident.resolved"

    resolution_code: str
    resolution_notes: str
    resolved_at: datetime


@register
class IncidentAssigned(IncidentEvent):
    """The assignment group or assignee changed; a change away from someone already assigned counts."""

    type = "itsm.incident.assigned"

    assignment_group: str | None = None
    assignee: str | None = None
    previous_assignment_group: str | None = None
    previous_assignee: str | None = None
    reassignment_count: int
    assigned_at: datetime


FieldValue = str | int | bool | None


@register
class IncidentUpdated(IncidentEvent):
    """Fields changed that no more specific event covers (category, description, CI, major, parent...)."""

    type = "itsm.incident.updated"

    changes: dict[str, FieldValue]  # field name -> its new value
    updated_at: datetime


@register
class IncidentCommented(IncidentEvent):
    """A caller-visible comment (ServiceNow's additional comments)."""

    type = "itsm.incident.commented"

    text: str
    commented_at: datetime


@register
class IncidentWorkNoteAdded(IncidentEvent):
    """An internal work note, for agents only."""

    type = "itsm.incident.work_note_added"

    text: str
    added_at: datetime


@register
class IncidentReopened(IncidentEvent):
    """Resolved -> In Progress (also published as state_changed)."""

    type = "itsm.incident.reopened"

    reopen_count: int
    reopened_at: datetime


@register
class IncidentClosed(IncidentEvent):
    """Resolved -> Closed (also published as state_changed)."""

    type = "itsm.incident.closed"

    automatically: bool = False  # by the auto-close job, not by a person
    closed_at: datetime


@register
class IncidentCanceled(IncidentEvent):
    """Canceled: a duplicate or not an incident (also published as state_changed)."""

    type = "itsm.incident.canceled"

    canceled_at: datetime


@register
class IncidentEscalated(IncidentEvent):
    """An SLA timer of the incident breached: the incident is marked escalated and its SLA
    definition's escalation group (if it names one) is involved. A work note says which."""

    type = "itsm.incident.escalated"

    escalation_group: str | None = None
    escalated_at: datetime
    reason: str
    sla_timer_id: str | None = None
    sla_kind: Literal["response", "resolution"] | None = None


@register
class IncidentProblemLinked(IncidentEvent):
    """An agent linked the incident to a problem from the incident's side. The problems service links it on
    the problem (or refuses, with itsm.problem.incident_link_refused); a link made on the problem's side comes
    back as itsm.incident.updated instead, so neither side echoes the other."""

    type = "itsm.incident.problem_linked"

    problem_id: str
    previous_problem_id: str | None = None  # the problem it moved away from, which should unlink it
    linked_at: datetime


@register
class IncidentProblemUnlinked(IncidentEvent):
    """An agent unlinked the incident from its problem from the incident's side."""

    type = "itsm.incident.problem_unlinked"

    problem_id: str
    unlinked_at: datetime
