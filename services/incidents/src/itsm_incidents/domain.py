"""Incident rules, as ITIL and ServiceNow define them. Pure: no I/O.

An Incident collects the events its changes raise; the handler stores both at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from itsm_contracts.events import EventData
from itsm_contracts.events.alerts import AlertReceived, Severity
from itsm_kit.domain import (
    DEFAULT_PRIORITY_MATRIX, InvalidValue, RaisesEvents, check_transition, priority_of,
)
from itsm_contracts.events.incidents import (
    IncidentAlertAttached,
    IncidentOpened,
    IncidentPriorityChanged,
    IncidentResolved,
    IncidentStateChanged,
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

# Impact x urgency -> priority: the default matrix (an admin-editable one replaces it later).
PRIORITY_MATRIX = DEFAULT_PRIORITY_MATRIX

# What a monitoring severity says about impact and urgency.
SEVERITY_IMPACT_URGENCY: dict[Severity, tuple[int, int]] = {
    "critical": (1, 1),  # P1
    "error": (1, 2),     # P2
    "warning": (2, 2),   # P3
    "info": (3, 2),      # P4
}

AUTO_RESOLUTION_CODE = "resolved_by_monitoring"


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
    # (sequence, event) raised since loading; the handler stores them with the incident.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(cls, *, id: str, number: str, short_description: str, description: str, impact: int, urgency: int,
             origin: str, at: datetime, dedup_key: str | None = None) -> Incident:
        if not short_description.strip():
            raise InvalidValue("an incident needs a short description")
        incident = cls(
            id=id, number=number, short_description=short_description.strip(), description=description,
            state=State.NEW, impact=impact, urgency=urgency, priority=priority_of(impact, urgency, PRIORITY_MATRIX),
            origin=origin, opened_at=at, updated_at=at, dedup_key=dedup_key,
            alert_count=1 if dedup_key else 0, last_seen_at=at if dedup_key else None,
        )
        incident._raise(IncidentOpened(
            incident_id=id, number=number, short_description=incident.short_description, description=description,
            state=incident.state, impact=impact, urgency=urgency, priority=incident.priority, origin=origin,
            dedup_key=dedup_key, opened_at=at,
        ), at)
        return incident

    @classmethod
    def open_from_alert(cls, *, id: str, number: str, alert: AlertReceived) -> Incident:
        """The routing rule's impact and urgency win over what the severity suggests."""
        impact, urgency = SEVERITY_IMPACT_URGENCY[alert.severity]
        routing = alert.routing
        return cls.open(
            id=id, number=number, short_description=alert.summary[:160] or alert.dedup_key,
            description=alert.description, impact=routing.impact or impact, urgency=routing.urgency or urgency,
            origin="monitoring", at=alert.received_at, dedup_key=alert.dedup_key, caller=None,
            category=routing.category, assignment_group=routing.assignment_group, affected_ci=routing.affected_ci,
            business_service=routing.business_service,
        )

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

    def move_to(self, wanted: State, at: datetime, hold_reason: str | None = None) -> None:
        check_transition(TRANSITIONS, "an incident", self.state, wanted)
        previous, self.state = self.state, wanted
        self.hold_reason = hold_reason if wanted is State.ON_HOLD else None
        self._raise(IncidentStateChanged(
            incident_id=self.id, from_state=previous, to_state=wanted, hold_reason=self.hold_reason, changed_at=at,
        ), at)

    def acknowledge(self, at: datetime) -> None:
        """Someone is on it (an acknowledged alert): a new incident moves in progress; others stay as they are."""
        if self.state is State.NEW:
            self.move_to(State.IN_PROGRESS, at)

    def resolve(self, code: str, notes: str, at: datetime) -> None:
        if not code.strip() or not notes.strip():
            raise InvalidValue("resolving needs a resolution code and resolution notes")
        self.move_to(State.RESOLVED, at)
        self.resolved_at, self.resolution_code, self.resolution_notes = at, code, notes
        self._raise(IncidentResolved(incident_id=self.id, resolution_code=code, resolution_notes=notes,
                                     resolved_at=at), at)

    def reprioritise(self, impact: int, urgency: int, at: datetime) -> None:
        priority = priority_of(impact, urgency, PRIORITY_MATRIX)
        previous = self.priority
        self.impact, self.urgency, self.priority = impact, urgency, priority
        if priority != previous:
            self._raise(IncidentPriorityChanged(incident_id=self.id, from_priority=previous, to_priority=priority,
                                                impact=impact, urgency=urgency, changed_at=at), at)

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)


class AlertAction(StrEnum):
    """What an incoming alert does to incidents."""

    OPEN = "open"                # a new incident for it
    ATTACH = "attach"            # counted on the incident it (or its storm) already has
    ACKNOWLEDGE = "acknowledge"  # its incident goes in progress
    CLEAR = "clear"              # the alert is over; its incident resolves when none of its alerts is active
    IGNORE = "ignore"            # nothing to do: e.g. a resolve for an alert never seen firing


def alert_action(status: str, *, has_active_alert: bool, storm_incident_open: bool) -> AlertAction:
    """The correlation rules, in one place.

    `has_active_alert`: this dedup key is firing (or acknowledged) on an open incident.
    `storm_incident_open`: an open incident holds an active alert of the same group within
    the integration's storm window.
    """
    if status == "firing":
        return AlertAction.ATTACH if has_active_alert or storm_incident_open else AlertAction.OPEN
    if not has_active_alert:
        return AlertAction.IGNORE
    return AlertAction.ACKNOWLEDGE if status == "acknowledged" else AlertAction.CLEAR
