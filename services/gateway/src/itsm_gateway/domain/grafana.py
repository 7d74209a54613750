"""Grafana unified alerting's webhook (contact point of type webhook), as normalized alerts.

https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/
Grafana's body is Alertmanager's version 4 grown by org, title, state, message, and per
alert links to silence, dashboard and panel plus the values that fired it; `version` is "1".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from itsm_contracts.events.alerts import AlertReceived
from itsm_gateway.domain.alertmanager import MAX_BATCH, AlertmanagerAlert, AlertmanagerWebhook, alertmanager_like


class GrafanaAlert(AlertmanagerAlert):
    model_config = ConfigDict(extra="allow")

    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""
    imageURL: str = ""
    # Grafana 9.4+ sends `values` (query ref -> number, null when no data); older ones `valueString`.
    values: dict[str, Any] | None = None
    valueString: str = ""


class GrafanaWebhook(AlertmanagerWebhook):
    model_config = ConfigDict(extra="allow")

    version: Literal["1"]  # Grafana's own payload version
    orgId: int | None = None
    title: str = ""
    state: str = ""  # "alerting" or "ok"; each alert's status says the same per alert
    message: str = ""
    alerts: list[GrafanaAlert] = Field(min_length=1, max_length=MAX_BATCH)


def _links_and_values(alert: GrafanaAlert) -> dict[str, str]:
    """Where an agent can look next, kept as annotations (the alert's own annotations win)."""
    extra = {"silence_url": alert.silenceURL, "dashboard_url": alert.dashboardURL, "panel_url": alert.panelURL,
             "image_url": alert.imageURL, "value_string": alert.valueString}
    if alert.values:
        extra["values"] = ", ".join(f"{ref}={value}" for ref, value in sorted(alert.values.items()))
    return {name: value for name, value in extra.items() if value}


def from_grafana(body: GrafanaWebhook, integration_id: str, received_at: datetime) -> list[AlertReceived]:
    return alertmanager_like(body, "grafana", integration_id, received_at, _links_and_values)
