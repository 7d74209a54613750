"""The incidents service's rules. Pure: no I/O.

incident.py: the Incident aggregate, its lifecycle table, priority, parent/child, escalation.
alerts.py: monitoring alerts, their episodes, deduplication and storms.
"""

from itsm_incidents.domain.alerts import (
    EPISODE_TRANSITIONS, AlertAction, AlertDesk, AlertEpisode, AlertIdentity, EndedBy, EpisodeStatus, alert_action,
    identity, storm_window_start,
)
from itsm_incidents.domain.incident import (
    AUTO_RESOLUTION_CODE, CHILDREN_FOLLOW, EXTERNAL_RESOLUTION_CODE, MONITORING, OPEN_STATES, PROBLEM_RESOLUTION_CODE,
    SYSTEM, TRANSITIONS,
    Activity, ActivityKind,
    Incident, State, breach_note, is_due_for_auto_close, is_reassignment, last_state_change, leads_children,
    valid_matrix,
)

__all__ = [
    "AUTO_RESOLUTION_CODE", "CHILDREN_FOLLOW", "EPISODE_TRANSITIONS", "EXTERNAL_RESOLUTION_CODE", "MONITORING",
    "OPEN_STATES",
    "PROBLEM_RESOLUTION_CODE", "SYSTEM",
    "TRANSITIONS", "Activity", "ActivityKind", "AlertAction", "AlertDesk", "AlertEpisode", "AlertIdentity",
    "EndedBy", "EpisodeStatus", "Incident", "State", "alert_action", "breach_note", "identity",
    "is_due_for_auto_close", "is_reassignment", "last_state_change", "leads_children", "storm_window_start",
    "valid_matrix",
]
