"""Monitoring payloads as real senders post them."""

from __future__ import annotations

import uuid


def alertmanager_batch(alerts: list[dict], status: str | None = None, group_key: str | None = None) -> dict:
    """A Prometheus Alertmanager webhook body (version 4)."""
    return {
        "version": "4",
        "groupKey": group_key or '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "receiver": "itsm",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"job": "checkout"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


def alert(fingerprint: str, *, status: str = "firing", severity: str = "critical", instance: str = "web-1",
          starts_at: str = "2026-11-25T10:00:00Z") -> dict:
    """One alert; `starts_at` names its episode: Alertmanager gives an alert firing again a new one."""
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "severity": severity, "instance": instance, "job": "checkout"},
        "annotations": {"summary": f"5xx above 5% on {instance}", "description": "Error ratio 0.07 over 5m"},
        "startsAt": starts_at,
        "endsAt": "2026-11-25T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate",
        "fingerprint": fingerprint,
    }


def fingerprints(n: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"{run}{i:08x}" for i in range(n)]


def grafana_batch(alerts: list[dict], group_key: str = '{}:{alertname="API latency"}') -> dict:
    """A Grafana unified alerting webhook body (contact point of type webhook, payload version 1)."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "itsm", "status": "firing" if firing else "resolved", "orgId": 1, "alerts": alerts,
        "groupLabels": {"alertname": "API latency"}, "commonLabels": {"alertname": "API latency"},
        "commonAnnotations": {}, "externalURL": "https://grafana.example/", "version": "1", "groupKey": group_key,
        "truncatedAlerts": 0, "title": f"[{'FIRING' if firing else 'RESOLVED'}:{len(alerts)}] API latency",
        "state": "alerting" if firing else "ok", "message": "",
    }


def grafana_alert(fingerprint: str, *, status: str = "firing", instance: str = "api-1",
                  labels: dict[str, str] | None = None) -> dict:
    return {
        "status": status,
        "labels": {"alertname": "API latency", "grafana_folder": "Checkout", "instance": instance,
                   "severity": "critical", **(labels or {})},
        "annotations": {"summary": f"p99 latency above 800ms on {instance}"},
        "startsAt": "2026-11-25T10:00:00Z",
        "endsAt": "2026-11-25T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "https://grafana.example/alerting/grafana/x/view", "fingerprint": fingerprint,
        "silenceURL": "https://grafana.example/alerting/silence/new", "dashboardURL": "https://grafana.example/d/1",
        "panelURL": "https://grafana.example/d/1?viewPanel=2", "values": {"A": 912.4}, "valueString": "",
    }


def pagerduty_event(routing_key: str, action: str = "trigger", dedup_key: str | None = None, *,
                    severity: str = "critical", source: str = "db-1.example.com", component: str = "mysql") -> dict:
    """A PagerDuty Events API v2 event, as a PagerDuty client posts it to /v2/enqueue."""
    event: dict = {"routing_key": routing_key, "event_action": action}
    if dedup_key is not None:
        event["dedup_key"] = dedup_key
    if action == "trigger":
        event |= {
            "payload": {"summary": f"DISK at 99% on {source}", "source": source, "severity": severity,
                        "timestamp": "2026-11-25T10:00:00.000+0000", "component": component, "group": "prod-db",
                        "class": "disk", "custom_details": {"free space": "1%"}},
            "client": "Nagios", "client_url": "https://nagios.example/",
        }
    return event


def generic_alert(dedup_key: str | None = None, *, status: str = "firing", severity: str = "error",
                  labels: dict[str, str] | None = None, source: str = "batch-7") -> dict:
    """Our generic JSON alert."""
    alert = {"status": status, "severity": severity, "summary": f"Nightly job failed on {source}",
             "source": source, "labels": labels or {"job": "backup"}}
    return alert | ({"dedup_key": dedup_key} if dedup_key else {})
