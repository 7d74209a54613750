"""Prometheus Alertmanager's webhook, version 4, as normalized alerts.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
Grafana's webhook is this format grown by a few fields (grafana.py builds on it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from itsm_contracts.events.alerts import AlertReceived
from itsm_gateway.domain.common import (
    MAX_DEDUP_KEY, MAX_GROUP_KEY, Annotations, Labels, alertmanager_fingerprint, bounded, check_counts, real_time,
    severity_of,
)

MAX_BATCH = 10_000


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: Annotated[Labels, Field(min_length=1)]
    annotations: Annotations = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = Field(default=None, description=(
        "Alertmanager's (16 hex digits); computed as Alertmanager does when missing, hashed when over 255 characters"))


class AlertmanagerWebhook(BaseModel):
    """Prometheus Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: str = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = {}
    commonLabels: Labels = {}
    commonAnnotations: Annotations = {}
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=MAX_BATCH)


def alertmanager_like(
    body: AlertmanagerWebhook, kind: str, integration_id: str, received_at: datetime,
    extra_annotations: Callable[[AlertmanagerAlert], dict[str, str]] = lambda alert: {},
) -> list[AlertReceived]:
    """Alerts of an Alertmanager-shaped body; the group key is the sender's own, un-namespaced."""
    alerts = []
    group_key = bounded(body.groupKey, MAX_GROUP_KEY) or None  # hashed once, not in every alert
    for n, alert in enumerate(body.alerts):
        labels = {**body.commonLabels, **alert.labels}
        annotations = {**extra_annotations(alert), **body.commonAnnotations, **alert.annotations}
        check_counts(n, labels, annotations)
        alertname = labels.get("alertname", "alert")
        where = labels.get("instance") or labels.get("job")
        alerts.append(AlertReceived(
            integration_id=integration_id,
            integration_kind=kind,
            # An Alertmanager before 0.19 sends none: its own fingerprint (of the alert's labels, which
            # Alertmanager always sends whole) is what an upgraded one will send for the same alert.
            dedup_key=bounded(alert.fingerprint, MAX_DEDUP_KEY) if alert.fingerprint
            else alertmanager_fingerprint(alert.labels),
            status=alert.status,
            severity=severity_of(labels.get("severity")),
            summary=(annotations.get("summary") or (f"{alertname} on {where}" if where else alertname))[:500],
            description=annotations.get("description", ""),
            source=labels.get("instance") or labels.get("job") or "",
            labels=labels,
            annotations=annotations,
            starts_at=real_time(alert.startsAt),
            ends_at=real_time(alert.endsAt),
            group_key=group_key,
            generator_url=alert.generatorURL,
            received_at=received_at,
        ))
    return alerts


def from_alertmanager(body: AlertmanagerWebhook, integration_id: str, received_at: datetime) -> list[AlertReceived]:
    return alertmanager_like(body, "alertmanager", integration_id, received_at)
