"""Monitoring payloads normalized into one alert contract. Pure: no I/O.

Alertmanager webhook v4: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from itsm_contracts.events.alerts import AlertReceived, Severity

# Severity label values seen in the wild, mapped onto our four levels.
SEVERITY_ALIASES: dict[str, Severity] = {
    "critical": "critical", "crit": "critical", "page": "critical", "p1": "critical", "disaster": "critical",
    "fatal": "critical", "emergency": "critical",
    "error": "error", "high": "error", "major": "error", "p2": "error",
    "warning": "warning", "warn": "warning", "medium": "warning", "minor": "warning", "average": "warning",
    "p3": "warning",
    "info": "info", "informational": "info", "low": "info", "none": "info", "p4": "info", "p5": "info",
}
DEFAULT_SEVERITY: Severity = "warning"


def severity_of(value: str | None) -> Severity:
    return SEVERITY_ALIASES.get((value or "").strip().lower(), DEFAULT_SEVERITY)


def labels_fingerprint(labels: dict[str, str]) -> str:
    """Stable identity of an alert from its label set, when the sender gives none."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _real_time(value: datetime | None) -> datetime | None:
    # Alertmanager sends 0001-01-01T00:00:00Z for "not ended yet".
    return value if value is not None and value.year > 1 else None


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AlertmanagerWebhook(BaseModel):
    """Prometheus Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: str = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=10_000)


def from_alertmanager(body: AlertmanagerWebhook, integration_id: str, received_at: datetime) -> list[AlertReceived]:
    alerts = []
    for alert in body.alerts:
        labels = {**body.commonLabels, **alert.labels}
        annotations = {**body.commonAnnotations, **alert.annotations}
        alertname = labels.get("alertname", "alert")
        where = labels.get("instance", labels.get("job", "?"))
        alerts.append(AlertReceived(
            integration_id=integration_id,
            integration_kind="alertmanager",
            dedup_key=alert.fingerprint or labels_fingerprint(labels),
            status=alert.status,
            severity=severity_of(labels.get("severity")),
            summary=(annotations.get("summary") or f"{alertname} on {where}")[:500],
            description=annotations.get("description", ""),
            source=labels.get("instance") or labels.get("job") or "",
            labels=labels,
            annotations=annotations,
            starts_at=_real_time(alert.startsAt),
            ends_at=_real_time(alert.endsAt),
            group_key=body.groupKey or None,
            generator_url=alert.generatorURL,
            received_at=received_at,
        ))
    return alerts
