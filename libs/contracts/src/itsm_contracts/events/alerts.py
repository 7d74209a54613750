"""Monitoring alerts, normalized from Alertmanager, Grafana, PagerDuty Events v2 or generic JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

# acknowledged: someone is on it at the source (PagerDuty's acknowledge event).
AlertStatus = Literal["firing", "acknowledged", "resolved"]
# One severity scale for every monitoring source (PagerDuty's four levels).
Severity = Literal["critical", "error", "warning", "info"]


class AlertRouting(BaseModel):
    """What the integration's routing rules decided for the incident this alert may open."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    affected_ci: str | None = None
    business_service: str | None = None
    impact: int | None = Field(default=None, ge=1, le=3)
    urgency: int | None = Field(default=None, ge=1, le=3)
    assignment_group: str | None = None
    category: str | None = None
    rule: str | None = Field(default=None, description="name of the rule that matched")


@register
class AlertReceived(EventData):
    type = "itsm.alert.received"
    topic = topics.ALERTS

    integration_id: str
    integration_kind: str
    dedup_key: str = Field(description="Alertmanager fingerprint, PagerDuty dedup_key, or a configured key")
    status: AlertStatus
    severity: Severity
    summary: str
    description: str = ""
    source: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    group_key: str | None = None
    generator_url: str | None = None
    received_at: datetime
    # The integration's policy, carried with each alert so incidents needs no copy of it.
    routing: AlertRouting = AlertRouting()
    resolve_incident: bool = Field(default=True, description="a resolved alert resolves its incident")
    acknowledge_incident: bool = Field(default=True, description="an acknowledged alert puts it in progress")
    storm_window_seconds: int = Field(default=0, ge=0, description=(
        "alerts sharing group_key within this window attach to one incident; 0 turns storm control off"))
