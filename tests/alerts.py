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


def alert(fingerprint: str, *, status: str = "firing", severity: str = "critical", instance: str = "web-1") -> dict:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "severity": severity, "instance": instance, "job": "checkout"},
        "annotations": {"summary": f"5xx above 5% on {instance}", "description": "Error ratio 0.07 over 5m"},
        "startsAt": "2026-11-25T10:00:00Z",
        "endsAt": "2026-11-25T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate",
        "fingerprint": fingerprint,
    }


def fingerprints(n: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"{run}{i:08x}" for i in range(n)]
