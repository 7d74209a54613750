"""Change enablement events, published by the changes service on itsm.changes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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
