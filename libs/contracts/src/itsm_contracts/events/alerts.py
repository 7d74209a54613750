"""Monitoring alerts, normalized from Alertmanager, Grafana, PagerDuty Events v2 or generic JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

AlertStatus = Literal["firing", "resolved"]
# One severity scale for every monitoring source (PagerDuty's four levels).
Severity = Literal["critical", "error", "warning", "info"]


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
