"""What operators and tracing rely on: probes, metrics, and one correlation id across services."""

from __future__ import annotations

import re

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from processes import SERVICES
from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.helpers import eventually, read_topic

pytestmark = pytest.mark.e2e


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def test_every_service_is_live_and_ready(platform):
    async with httpx.AsyncClient() as client:
        for service in SERVICES:
            assert (await client.get(f"{platform.url(service)}/healthz")).json() == {"status": "ok"}
            ready = await client.get(f"{platform.url(service)}/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}


async def test_metrics_count_the_flow(platform, gateway, integration_key):
    async with httpx.AsyncClient() as client:
        async def scrape(service: str) -> str:
            return (await client.get(f"{platform.metrics_url(service)}/metrics")).text  # its own port

        before = metric(await scrape("incidents"), "itsm_events_consumed_total", topic="itsm.alerts", outcome="handled")
        fps = fingerprints(3)
        body = alertmanager_batch([alert(fp) for fp in fps])
        assert (await gateway.post("/api/v1/integrations/alertmanager", json=body,
                                   headers={"x-integration-key": integration_key})).status_code == 202

        async def consumed():
            text = await scrape("incidents")
            assert metric(text, "itsm_events_consumed_total", topic="itsm.alerts", outcome="handled") >= before + 3
            assert metric(text, "itsm_events_published_total", topic="itsm.incidents") >= 3
            return text

        incidents = await eventually(consumed)
        assert "itsm_outbox_backlog" in incidents and "itsm_consumer_lag" in incidents
        gateway_metrics = await scrape("gateway")
        assert metric(gateway_metrics, "itsm_events_published_total", topic="itsm.alerts") >= 3
        assert metric(gateway_metrics, "itsm_http_request_duration_seconds_count",
                      route="/api/v1/integrations/alertmanager", status="202") >= 1


async def test_the_callers_correlation_id_follows_the_alert_into_incident_events(infra, gateway, integration_key):
    [fp] = fingerprints(1)
    correlation = f"trace-{fp}"
    response = await gateway.post("/api/v1/integrations/alertmanager", json=alertmanager_batch([alert(fp)]),
                                  headers={"x-integration-key": integration_key, "x-correlation-id": correlation})
    assert response.headers["x-correlation-id"] == correlation

    def opened_for_fp(records) -> list[CloudEvent]:
        events = [CloudEvent.from_json(r.value) for r in records]
        return [e for e in events if e.type == "itsm.incident.opened" and e.data.get("dedup_key") == fp]

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.INCIDENTS, until=lambda rs: opened_for_fp(rs))
    [opened] = opened_for_fp(records)
    assert opened.correlationid == correlation
    assert opened.causationid is not None and opened.source == "itsm/incidents" and opened.sequence == 1
