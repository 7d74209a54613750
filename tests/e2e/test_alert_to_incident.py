"""The first flow, end to end through the gateway: Alertmanager -> Kafka -> incidents -> SLA timers."""

from __future__ import annotations

import pytest

from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def incident_for(gateway, fingerprint: str) -> dict:
    """The incident an alert opened, as a frontend would show it (with SLA timers)."""
    page = (await gateway.get("/api/v1/incidents", params={"dedup_key": fingerprint})).json()
    assert len(page["items"]) == 1, page
    response = await gateway.get(f"/api/v1/incidents/{page['items'][0]['id']}")
    assert response.status_code == 200
    return response.json()


async def test_firing_batch_opens_incidents_with_timers_and_resolved_batch_resolves_them(gateway, integration_key):
    fp_critical, fp_warning, fp_info = fingerprints(3)
    firing = alertmanager_batch([alert(fp_critical, severity="critical", instance="web-1"),
                                 alert(fp_warning, severity="warning", instance="web-2"),
                                 alert(fp_info, severity="info", instance="web-3")])

    accepted = await gateway.post("/api/v1/integrations/alertmanager", json=firing,
                                  headers={"authorization": f"Bearer {integration_key}"})

    assert accepted.status_code == 202
    assert accepted.json() == {"status": "accepted", "accepted": 3, "dedup_keys": [fp_critical, fp_warning, fp_info]}

    async def opened_with_timers():
        incidents = {fp: await incident_for(gateway, fp) for fp in (fp_critical, fp_warning, fp_info)}
        for incident in incidents.values():
            assert incident["state"] == "new"
            assert sorted(t["kind"] for t in incident["sla_timers"]) == ["resolution", "response"]
            assert all(t["stage"] == "in_progress" for t in incident["sla_timers"])
        return incidents

    incidents = await eventually(opened_with_timers)
    assert [incidents[fp]["priority"] for fp in (fp_critical, fp_warning, fp_info)] == [1, 3, 4]
    critical = incidents[fp_critical]
    assert critical["short_description"] == "5xx above 5% on web-1"
    assert critical["origin"] == "monitoring" and critical["alert_count"] == 1
    response_timer = next(t for t in critical["sla_timers"] if t["kind"] == "response")
    assert response_timer["priority"] == 1
    assert response_timer["due_at"] > response_timer["started_at"]

    resolved = alertmanager_batch([alert(fp, status="resolved") for fp in (fp_critical, fp_warning, fp_info)])
    accepted = await gateway.post("/api/v1/integrations/alertmanager", json=resolved,
                                  headers={"authorization": f"Bearer {integration_key}"})
    assert accepted.status_code == 202

    async def resolved_with_timers_stopped():
        for fp in (fp_critical, fp_warning, fp_info):
            incident = await incident_for(gateway, fp)
            assert incident["state"] == "resolved"
            assert incident["resolution_code"] == "resolved_by_monitoring"
            assert [t["stage"] for t in incident["sla_timers"]] == ["completed", "completed"]
            assert all(t["stopped_at"] is not None for t in incident["sla_timers"])

    await eventually(resolved_with_timers_stopped)


async def test_the_same_webhook_posted_twice_opens_no_second_incident(gateway, integration_key):
    [fp] = fingerprints(1)
    body = alertmanager_batch([alert(fp)])
    headers = {"x-integration-key": integration_key}
    for _ in range(2):
        assert (await gateway.post("/api/v1/integrations/alertmanager", json=body, headers=headers)).status_code == 202

    async def counted_twice():
        incident = await incident_for(gateway, fp)
        assert incident["alert_count"] == 2
        return incident

    incident = await eventually(counted_twice)
    page = (await gateway.get("/api/v1/incidents", params={"dedup_key": fp})).json()
    assert [i["id"] for i in page["items"]] == [incident["id"]]


async def test_an_alert_firing_again_after_resolution_opens_a_new_incident(gateway, integration_key):
    [fp] = fingerprints(1)
    headers = {"x-integration-key": integration_key}
    for status, starts_at in (("firing", "2026-11-25T10:00:00Z"), ("resolved", "2026-11-25T10:00:00Z"),
                              ("firing", "2026-11-25T10:30:00Z")):  # firing again: a new episode, a new start
        body = alertmanager_batch([alert(fp, status=status, starts_at=starts_at)])
        assert (await gateway.post("/api/v1/integrations/alertmanager", json=body, headers=headers)).status_code == 202

    async def two_incidents():
        page = (await gateway.get("/api/v1/incidents", params={"dedup_key": fp})).json()
        assert sorted(i["state"] for i in page["items"]) == ["new", "resolved"]

    await eventually(two_incidents)


async def test_incident_opened_by_hand_is_resolved_with_if_match(gateway):
    created = await gateway.post("/api/v1/incidents", json={"short_description": "VPN drops", "impact": 2,
                                                            "urgency": 1})
    assert created.status_code == 201
    incident = created.json()
    assert incident["priority"] == 2 and incident["priority_label"] == "High"
    assert created.headers["location"] == f"/api/v1/incidents/{incident['id']}"
    assert created.headers["etag"] == '"1"'

    stale = await gateway.post(f"/api/v1/incidents/{incident['id']}/resolve", headers={"if-match": '"0"'},
                               json={"resolution_code": "fixed", "resolution_notes": "rebooted the concentrator"})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"

    resolved = await gateway.post(f"/api/v1/incidents/{incident['id']}/resolve", headers={"if-match": '"1"'},
                                  json={"resolution_code": "fixed", "resolution_notes": "rebooted the concentrator"})
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"

    again = await gateway.post(f"/api/v1/incidents/{incident['id']}/state", json={"state": "on_hold",
                                                                                 "hold_reason": "awaiting_vendor"})
    assert again.status_code == 409
    assert again.json()["allowed_states"] == ["closed", "in_progress"]


async def test_incident_list_pages_with_a_cursor(gateway):
    marker = fingerprints(1)[0]  # only this test's incidents: others (a storm) may have made hundreds
    for n in range(5):
        created = await gateway.post("/api/v1/incidents", json={"short_description": f"page test {marker} {n}"})
        assert created.status_code == 201
    seen, cursor = [], None
    while True:
        params = {"q": marker, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await gateway.get("/api/v1/incidents", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    everything = (await gateway.get("/api/v1/incidents", params={"q": marker, "limit": 200})).json()["items"]
    assert seen == [i["id"] for i in everything]
