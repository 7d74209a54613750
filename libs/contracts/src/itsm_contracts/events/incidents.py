"""Incident lifecycle events, published by the incidents service on itsm.incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

IncidentState = Literal["new", "in_progress", "on_hold", "resolved", "closed", "canceled"]


class IncidentEvent(EventData):
    topic = topics.INCIDENTS

    incident_id: str


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


@register
class IncidentResolved(IncidentEvent):
    type = "itsm.incident.resolved"

    resolution_code: str
    resolution_notes: str
    resolved_at: datetime
