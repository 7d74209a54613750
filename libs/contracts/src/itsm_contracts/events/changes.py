"""Change enablement events, published by the changes service on itsm.changes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

# The change vocabulary, shared by every service that speaks of change types and states.
ChangeType = Literal["standard", "normal", "emergency"]
ChangeState = Literal["new", "assess", "authorize", "scheduled", "implement", "review", "closed", "canceled"]

# A field's new value in ChangeUpdated: text, a time (planned start or end), a list of CI ids, or null.
FieldValue = str | datetime | list[str] | None


class ChangeEvent(EventData):
    topic = topics.CHANGES

    change_id: str
    # Who made the change: a user id (the gateway's JWT subject) or "system".
    actor: str | None = None


@register
class ChangeRequested(ChangeEvent):
    type = "itsm.change.requested"

    number: str
    short_description: str
    change_type: str
    requested_at: datetime
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    assignee: str | None = None
    assignment_group: str | None = None
    affected_cis: list[str] = []


@register
class ChangeUpdated(ChangeEvent):
    """Fields of the change edited (PATCH): its description, planned window, assignment, affected CIs."""

    type = "itsm.change.updated"

    changes: dict[str, FieldValue]  # field name -> its new value
    updated_at: datetime


@register
class ChangeStateChanged(ChangeEvent):
    """Any move along the change's path, an approval's or a rejection's included."""

    type = "itsm.change.state_changed"

    from_state: ChangeState
    to_state: ChangeState
    reason: str | None = None
    changed_at: datetime


@register
class ChangeApproved(ChangeEvent):
    """Authorized (the actor approved it); it is scheduled (also published as state_changed)."""

    type = "itsm.change.approved"

    comment: str | None = None
    approved_at: datetime


@register
class ChangeRejected(ChangeEvent):
    """Not authorized (the actor rejected it); it is back in new for rework (also published as state_changed)."""

    type = "itsm.change.rejected"

    comment: str
    rejected_at: datetime


# -- lifecycle (issue 15): assessed, scheduled, implemented, closed, canceled; approval rounds ----------------

CloseCode = Literal["successful", "successful_with_issues", "unsuccessful", "backed_out"]


@register
class ChangeApprovalRecorded(ChangeEvent):
    """One approver approved, but the approval group's rule is not met yet (the change still awaits approval)."""

    type = "itsm.change.approval_recorded"

    approval_group: str
    rule: str  # any | all | majority
    approvals: int  # approvals in this round so far
    approvers: int  # how many approvers the group has (0: any change manager)
    comment: str | None = None
    at: datetime


@register
class ChangeAssessed(ChangeEvent):
    """Assessment done: a normal change moved from assess into authorize (submitted for approval)."""

    type = "itsm.change.assessed"

    assessed_at: datetime


@register
class ChangeScheduled(ChangeEvent):
    """Scheduled into its planned window: approved, or a standard change (pre-authorized) moved there."""

    type = "itsm.change.scheduled"

    planned_start: datetime
    planned_end: datetime
    scheduled_at: datetime


@register
class ChangeImplemented(ChangeEvent):
    """Implementation started (the change entered implement): incidents after this may have been caused by it."""

    type = "itsm.change.implemented"

    affected_cis: list[str] = []
    implemented_at: datetime


@register
class ChangeClosed(ChangeEvent):
    """Closed after review, with how it went."""

    type = "itsm.change.closed"

    close_code: CloseCode
    close_notes: str
    affected_cis: list[str] = []
    closed_at: datetime


@register
class ChangeCanceled(ChangeEvent):
    type = "itsm.change.canceled"

    from_state: ChangeState
    reason: str | None = None
    canceled_at: datetime


# -- risk and "possibly caused by" (issue 15) ---------------------------------------------------------------------

RiskLevel = Literal["low", "moderate", "high", "very_high"]


class RiskFactorData(BaseModel):
    """One reason for a change's risk: what it is, which records it names, the points it adds."""

    model_config = ConfigDict(frozen=True)

    name: str
    detail: str
    points: int


@register
class ChangeRiskAssessed(ChangeEvent):
    """The change's risk level changed since it was requested (recomputed from its CIs, the services and CIs that
    depend on them, their incidents and changes, or its window); the factors say why."""

    type = "itsm.change.risk_assessed"

    risk: RiskLevel
    previous_risk: RiskLevel
    factors: list[RiskFactorData] = []
    assessed_at: datetime


@register
class ChangeIncidentSuspected(ChangeEvent):
    """An incident opened on a CI the change touched (or on one depending on it) soon after it was implemented:
    possibly caused by the change."""

    type = "itsm.change.incident_suspected"

    incident_id: str
    incident_number: str | None = None
    affected_ci: str
    opened_at: datetime
    implemented_at: datetime


# -- schedule (issue 15): conflicts between changes ----------------------------------------------------------

ConflictRelation = Literal["same_ci", "depends_on", "depended_on_by"]


@register
class ChangeConflictDetected(ChangeEvent):
    """Another scheduled or implementing change overlaps this one's planned window on a CI it touches, or on a CI
    related to one through the CMDB's dependencies. Published on both changes; it warns, it does not block."""

    type = "itsm.change.conflict_detected"

    other_change_id: str
    other_number: str
    ci: str  # this change's CI
    other_ci: str  # the other change's CI (the same CI, or one depending on it or depended on by it)
    relation: ConflictRelation  # how other_ci stands to ci: same_ci, depends_on (other_ci depends on ci), ...
    detected_at: datetime
