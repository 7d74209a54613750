"""Problem management events, published by the problems service on itsm.problems."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

# The problem lifecycle's vocabulary, shared by every service that speaks of problem states.
ProblemState = Literal["new", "assess", "root_cause_analysis", "fix_in_progress", "resolved", "closed", "canceled"]
# What a root cause is, broadly (ServiceNow's cause codes, trimmed): reports group problems by it.
CauseCode = Literal["software", "hardware", "configuration", "capacity", "process", "third_party", "unknown"]
# How a problem was resolved: fixed, the risk accepted without a fix, a duplicate of another, or dropped.
ResolutionCode = Literal["fix_applied", "risk_accepted", "duplicate", "canceled"]

# A field's new value in ProblemUpdated: text, a number (impact, urgency, priority), incident ids, or null.
FieldValue = str | int | list[str] | None


class ProblemEvent(EventData):
    topic = topics.PROBLEMS

    problem_id: str
    # Who made the change: a user id (the gateway's JWT subject) or "system".
    actor: str | None = None


@register
class ProblemOpened(ProblemEvent):
    type = "itsm.problem.opened"

    number: str
    short_description: str
    opened_at: datetime
    impact: int | None = None
    urgency: int | None = None
    priority: int | None = None
    assignee: str | None = None
    assignment_group: str | None = None
    related_incidents: list[str] = []
    # Set when detection opened it: the rule, what it counted on (ci, business_service or category) and the value.
    detection_rule_id: str | None = None
    detected_on: str | None = None
    detected_value: str | None = None


@register
class ProblemUpdated(ProblemEvent):
    """Fields of the problem edited (PATCH): description, impact/urgency (and so priority), assignment, incidents."""

    type = "itsm.problem.updated"

    changes: dict[str, FieldValue]  # field name -> its new value
    updated_at: datetime


@register
class ProblemStateChanged(ProblemEvent):
    type = "itsm.problem.state_changed"

    from_state: ProblemState
    to_state: ProblemState
    changed_at: datetime


@register
class ProblemRootCauseIdentified(ProblemEvent):
    """The root cause is written down (or rewritten): what it is, and its cause code."""

    type = "itsm.problem.root_cause_identified"

    root_cause: str
    cause_code: CauseCode
    identified_at: datetime


@register
class ProblemIncidentLinked(ProblemEvent):
    """An incident is now known to be caused by this problem."""

    type = "itsm.problem.incident_linked"

    incident_id: str
    at: datetime
    # Set when the problem has a published known error: the incident gets its workaround as a work note.
    known_error_id: str | None = None
    known_error_number: str | None = None
    workaround: str | None = None


@register
class ProblemIncidentUnlinked(ProblemEvent):
    type = "itsm.problem.incident_unlinked"

    incident_id: str
    at: datetime


@register
class ProblemResolved(ProblemEvent):
    """The problem is resolved. With `resolve_linked_incidents`, the incidents service resolves the open ones
    among `incident_ids` with this resolution (through this event: no call between the services)."""

    type = "itsm.problem.resolved"

    resolution_code: ResolutionCode
    notes: str
    number: str | None = None  # the problem's number, for the incidents' resolution text
    resolve_linked_incidents: bool = False
    incident_ids: list[str] = []
    resolved_at: datetime


@register
class ProblemIncidentLinkRefused(ProblemEvent):
    """An incident asked (itsm.incident.problem_linked) to be linked to a problem that cannot take it: unknown,
    closed or canceled, or full. The incidents service takes the link back. `problem_id` is the one asked for."""

    type = "itsm.problem.incident_link_refused"

    incident_id: str
    reason: str
    at: datetime


@register
class ProblemKnownErrorPublished(ProblemEvent):
    """The problem is documented as a known error: its symptoms and workaround, for the incidents it causes
    (`incident_ids`, the open ones of which get the workaround as a work note) and those still to come.
    Published again, with the same known_error_id, when the known error is revised."""

    type = "itsm.problem.known_error_published"

    known_error_id: str
    number: str  # the known error's number (KE...)
    problem_number: str
    title: str
    symptoms: str
    workaround: str
    affected_cis: list[str] = []
    incident_ids: list[str] = []
    revision: int = 1
    published_at: datetime


@register
class ProblemKnownErrorRetired(ProblemEvent):
    """The known error no longer applies (its fix is in, or it was wrong); its workaround is no longer offered."""

    type = "itsm.problem.known_error_retired"

    known_error_id: str
    number: str
    retired_at: datetime


@register
class ProblemLinkSuggested(ProblemEvent):
    """A new incident's text matches this open problem (or its known error): suggested for linking, not linked."""

    type = "itsm.problem.link_suggested"

    incident_id: str
    score: float
    known_error_id: str | None = None
    suggested_at: datetime


@register
class ProblemClosed(ProblemEvent):
    type = "itsm.problem.closed"

    closed_at: datetime


@register
class ProblemCommented(ProblemEvent):
    type = "itsm.problem.commented"

    text: str
    commented_at: datetime


@register
class ProblemWorkNoteAdded(ProblemEvent):
    """An internal work note (agents only: requesters never see problems)."""

    type = "itsm.problem.work_note_added"

    text: str
    added_at: datetime
