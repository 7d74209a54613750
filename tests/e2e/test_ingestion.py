"""Monitoring ingestion through the gateway: integrations and their policies, the four webhooks,
and what each puts on `itsm.alerts` (routing, group key, policy flags, dedup keys).

Incident behaviour (storms, acknowledge) is the incidents service's and is tested there;
these tests assert what lands on Kafka.
"""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest

from itsm_contracts import topics
from tests.alerts import (
    alert, alertmanager_batch, fingerprints, generic_alert, grafana_alert, grafana_batch, pagerduty_event,
)
from tests.helpers import read_topic

pytestmark = pytest.mark.e2e

INTEGRATIONS = "/api/v1/integrations"
ROUTES = [
    {"name": "staging", "match": {"env": "staging"}, "set": {"impact": 3, "urgency": 3}},
    {"name": "web tier", "match_re": {"instance": r"web-\d+"},
     "set": {"affected_ci": "{instance}", "business_service": "Checkout", "assignment_group": "Web Ops {env}",
             "impact": 1, "urgency": 2, "category": "application"}},
]


async def create(gateway: httpx.AsyncClient, kind: str, **policy) -> tuple[dict, str]:
    response = await gateway.post(INTEGRATIONS, json={"name": f"{kind}-{uuid.uuid4().hex[:6]}", "kind": kind,
                                                      **policy})
    assert response.status_code == 201, response.text
    body = response.json()
    return body, body.pop("key")


async def published(infra, integration_id: str, count: int) -> list[tuple[str, dict]]:
    """(Kafka key, alert) of each alert the integration put on itsm.alerts, once `count` are there."""
    found: list[tuple[str, dict]] = []
    read = 0

    def enough(records: list) -> bool:
        nonlocal read
        for record in records[read:]:
            data = json.loads(record.value)["data"]
            if data["integration_id"] == integration_id:
                found.append((record.key.decode(), data))
        read = len(records)
        return len(found) >= count

    await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.ALERTS, until=enough)
    return found


# --- the admin API -----------------------------------------------------------------------

async def test_an_integration_is_created_with_its_policy_and_its_key_shown_once(gateway):
    created = await gateway.post(INTEGRATIONS, json={
        "name": "prometheus-eu", "kind": "alertmanager", "resolve_incident": False, "storm_window_seconds": 300,
        "storm_group_labels": ["service"], "dedup_key_template": "{alertname}/{instance}", "routing_rules": ROUTES})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"].startswith("itsm_") and body["key"].startswith(body["key_prefix"])
    assert created.headers["location"] == f"{INTEGRATIONS}/{body['id']}"
    assert created.headers["etag"] == '"1"' and body["version"] == 1

    shown = await gateway.get(f"{INTEGRATIONS}/{body['id']}")
    assert shown.status_code == 200 and shown.headers["etag"] == '"1"'
    integration = shown.json()
    assert "key" not in integration and "key_hash" not in integration
    assert integration["kind"] == "alertmanager" and integration["resolve_incident"] is False
    assert integration["acknowledge_incident"] is True and integration["storm_window_seconds"] == 300
    assert integration["storm_group_labels"] == ["service"]
    assert integration["dedup_key_template"] == "{alertname}/{instance}" and integration["dedup_fields"] is None
    assert [r["name"] for r in integration["routing_rules"]] == ["staging", "web tier"]
    assert integration["routing_rules"][1]["set"]["affected_ci"] == "{instance}"
    listed = (await gateway.get(INTEGRATIONS)).json()
    assert [i for i in listed if i["id"] == body["id"]] == [integration]


async def test_a_pagerduty_integration_key_has_pagerdutys_shape(gateway):
    integration, key = await create(gateway, "pagerduty")
    assert re.fullmatch(r"[a-z0-9]{32}", key) and key.startswith(integration["key_prefix"])


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"routing_rules": [{"name": "r", "match_re": {"instance": "web-("}, "set": {}}]}, "regular expression"),
        ({"routing_rules": [{"name": "r", "set": {"owner": "me"}}]}, "Extra inputs"),
        ({"routing_rules": [{"name": "r", "set": {"impact": 4}}]}, "less than or equal to 3"),
        ({"routing_rules": [{"name": "r", "set": {"urgency": 0}}]}, "greater than or equal to 1"),
        ({"kind": "generic", "dedup_key_template": "{job}", "dedup_fields": ["job"]}, "not both"),
        ({"kind": "pagerduty", "dedup_fields": ["source"]}, "sender's dedup_key"),
        ({"kind": "generic", "storm_window_seconds": 60}, "storm_group_labels"),
        ({"kind": "nagios"}, "kind"),
    ],
)
async def test_an_invalid_policy_is_422_and_stores_nothing(gateway, body, complaint):
    before = (await gateway.get(INTEGRATIONS)).json()
    response = await gateway.post(INTEGRATIONS, json={"name": "invalid", **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert complaint in response.text
    assert (await gateway.get(INTEGRATIONS)).json() == before


async def test_a_policy_is_changed_with_if_match_and_a_bad_change_changes_nothing(gateway):
    integration, _ = await create(gateway, "generic", routing_rules=ROUTES[:1])
    url = f"{INTEGRATIONS}/{integration['id']}"

    changed = await gateway.patch(url, headers={"if-match": '"1"'},
                                  json={"routing_rules": ROUTES, "acknowledge_incident": False, "name": "renamed"})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    after = changed.json()
    assert [r["name"] for r in after["routing_rules"]] == ["staging", "web tier"]
    assert after["acknowledge_incident"] is False and after["resolve_incident"] is True
    assert after["name"] == "renamed" and after["updated_by"] == "agent-1" and after["updated_at"]

    stale = await gateway.patch(url, headers={"if-match": '"1"'}, json={"resolve_incident": False})
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    garbled = await gateway.patch(url, headers={"if-match": "yesterday"}, json={"resolve_incident": False})
    assert garbled.status_code == 400 and "If-Match" in garbled.json()["detail"]

    for bad in ({"routing_rules": [{"name": "r", "match_re": {"x": "("}, "set": {}}]},
                {"storm_window_seconds": 30},  # a generic integration needs storm_group_labels
                {"dedup_key_template": "{job}", "dedup_fields": ["job"]},
                {"kind": "alertmanager"}):
        response = await gateway.patch(url, json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await gateway.get(url)).json() == after

    cleared = await gateway.patch(url, json={"dedup_fields": ["job", "host"]})
    assert cleared.status_code == 200 and cleared.json()["dedup_fields"] == ["job", "host"]
    switched = await gateway.patch(url, json={"dedup_fields": None, "dedup_key_template": "{job}"})
    assert switched.status_code == 200, switched.text
    assert switched.json()["dedup_fields"] is None and switched.json()["version"] == 4


async def test_a_revoked_integration_cannot_be_changed_and_unknown_ones_are_404(gateway):
    integration, _ = await create(gateway, "grafana")
    url = f"{INTEGRATIONS}/{integration['id']}"
    assert (await gateway.delete(url)).status_code == 204
    assert (await gateway.get(url)).json()["revoked_at"] is not None
    refused = await gateway.patch(url, json={"resolve_incident": False})
    assert refused.status_code == 409 and "revoked" in refused.json()["detail"]
    assert (await gateway.delete(url)).status_code == 404
    unknown = f"{INTEGRATIONS}/00000000-0000-0000-0000-000000000000"
    for response in (await gateway.get(unknown), await gateway.patch(unknown, json={}), await gateway.delete(unknown)):
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


async def test_integrations_are_for_admins_only(gateway, platform):
    from tests.helpers import token

    integration, _ = await create(gateway, "generic")
    agent = {"authorization": f"Bearer {token('agent-7', roles=['agent'])}"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), headers=agent) as client:
        for response in (await client.get(INTEGRATIONS), await client.get(f"{INTEGRATIONS}/{integration['id']}"),
                         await client.patch(f"{INTEGRATIONS}/{integration['id']}", json={"name": "mine"})):
            assert response.status_code == 403
    assert (await gateway.get(f"{INTEGRATIONS}/{integration['id']}")).json()["name"] == integration["name"]


# --- Alertmanager and Grafana ------------------------------------------------------------

async def test_alertmanager_alerts_carry_the_integrations_routing_group_and_flags(gateway, infra):
    integration, key = await create(gateway, "alertmanager", routing_rules=ROUTES, resolve_incident=False,
                                    storm_window_seconds=120, storm_group_labels=["job"])
    web, db = fingerprints(2)
    firing = alertmanager_batch([alert(web, instance="web-7"), alert(db, instance="db-2")])
    firing["alerts"][0]["labels"]["env"] = "prod"
    accepted = await gateway.post("/api/v1/integrations/alertmanager", json=firing, headers={"x-integration-key": key})
    assert accepted.status_code == 202 and accepted.json()["dedup_keys"] == [web, db]

    records = {alert["dedup_key"]: alert for _, alert in await published(infra, integration["id"], 2)}
    routed, unrouted = records[web], records[db]
    assert routed["routing"] == {"affected_ci": "web-7", "business_service": "Checkout", "impact": 1, "urgency": 2,
                                 "assignment_group": "Web Ops prod", "category": "application", "rule": "web tier"}
    assert unrouted["routing"] == {"affected_ci": None, "business_service": None, "impact": None, "urgency": None,
                                   "assignment_group": None, "category": None, "rule": None}
    assert routed["group_key"] == unrouted["group_key"] == f'{integration["id"]}:{{job="checkout"}}'
    for record in (routed, unrouted):
        assert record["integration_kind"] == "alertmanager" and record["storm_window_seconds"] == 120
        assert record["resolve_incident"] is False and record["acknowledge_incident"] is True


async def test_alertmanager_group_key_is_the_default_storm_group_and_a_template_names_alerts(gateway, infra):
    integration, key = await create(gateway, "alertmanager", storm_window_seconds=60,
                                    dedup_key_template="{alertname}@{instance}")
    run = uuid.uuid4().hex[:6]
    body = alertmanager_batch([alert(fp, instance=f"{run}-{n}") for n, fp in enumerate(fingerprints(2))],
                              group_key='{}:{alertname="HighErrorRate"}')
    accepted = await gateway.post("/api/v1/integrations/alertmanager", json=body, headers={"x-integration-key": key})
    assert accepted.json()["dedup_keys"] == [f"HighErrorRate@{run}-0", f"HighErrorRate@{run}-1"]

    records = await published(infra, integration["id"], 2)
    assert sorted(r["dedup_key"] for _, r in records) == accepted.json()["dedup_keys"]
    group = f'{integration["id"]}:{{}}:{{alertname="HighErrorRate"}}'
    assert {r["group_key"] for _, r in records} == {group}
    assert {k for k, _ in records} == {group}  # under storm control the group is the Kafka key: one partition


async def test_grafana_alerts_are_normalized_routed_and_resolved(gateway, infra):
    integration, key = await create(gateway, "grafana", routing_rules=[
        {"name": "checkout", "match": {"grafana_folder": "Checkout", "severity": "critical"},
         "set": {"business_service": "Checkout", "affected_ci": "{instance}", "impact": 1, "urgency": 1}}])
    fp = fingerprints(1)[0]
    for status in ("firing", "resolved"):
        body = grafana_batch([grafana_alert(fp, status=status, instance="api-4")])
        response = await gateway.post("/api/v1/integrations/grafana", json=body, auth=("grafana", key))
        assert response.status_code == 202 and response.json() == {"status": "accepted", "accepted": 1,
                                                                    "dedup_keys": [fp]}

    firing, resolved = (r for _, r in await published(infra, integration["id"], 2))
    assert (firing["status"], resolved["status"]) == ("firing", "resolved")
    assert firing["dedup_key"] == resolved["dedup_key"] == fp
    assert firing["integration_kind"] == "grafana" and firing["severity"] == "critical"
    assert firing["summary"] == "p99 latency above 800ms on api-4"
    assert firing["annotations"]["dashboard_url"] == "https://grafana.example/d/1"
    assert firing["annotations"]["values"] == "A=912.4"
    assert firing["routing"]["rule"] == "checkout" and firing["routing"]["affected_ci"] == "api-4"
    assert firing["group_key"] == f'{integration["id"]}:{{}}:{{alertname="API latency"}}'
    assert resolved["ends_at"].startswith("2026-11-25T11:00:00")


# --- PagerDuty Events API v2 ---------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/integrations/pagerduty/v2/enqueue", "/v2/enqueue"])
async def test_pagerduty_events_answer_as_pagerduty_does(gateway, infra, path):
    integration, key = await create(gateway, "pagerduty", acknowledge_incident=False, routing_rules=[
        {"name": "mysql", "match": {"component": "mysql"},
         "set": {"affected_ci": "{source}", "category": "{class}", "assignment_group": "DBA"}}])
    dedup = f"srv01/mysql/{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as sender:  # PagerDuty senders send no token
        answers = [await sender.post(path, json=pagerduty_event(key, action, dedup))
                   for action in ("trigger", "acknowledge", "resolve")]
        generated = await sender.post(path, json=pagerduty_event(key, "trigger"))
    for answer in answers:
        assert answer.status_code == 202
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {"status": "success", "message": "Event processed", "dedup_key": dedup}
    assert generated.status_code == 202
    new_key = generated.json()["dedup_key"]
    assert re.fullmatch(r"[0-9a-f]{32}", new_key)

    records = await published(infra, integration["id"], 4)
    # One key's events stay in order (one partition); the two keys' events may interleave.
    assert [r["status"] for k, r in records if k == dedup] == ["firing", "acknowledged", "resolved"]
    assert [r["status"] for k, r in records if k == new_key] == ["firing"]
    trigger = next(r for k, r in records if k == dedup)
    assert trigger["integration_kind"] == "pagerduty" and trigger["severity"] == "critical"
    assert trigger["summary"] == "DISK at 99% on db-1.example.com" and trigger["source"] == "db-1.example.com"
    assert trigger["labels"] == {"source": "db-1.example.com", "component": "mysql", "group": "prod-db",
                                 "class": "disk"}
    assert trigger["annotations"] == {"free space": "1%", "client": "Nagios"}
    assert trigger["generator_url"] == "https://nagios.example/"
    assert trigger["routing"]["rule"] == "mysql" and trigger["routing"]["affected_ci"] == "db-1.example.com"
    assert trigger["routing"]["category"] == "disk"
    assert all(r["acknowledge_incident"] is False and r["resolve_incident"] is True for _, r in records)
    assert all(r["group_key"] is None for _, r in records)  # PagerDuty names no group; none was configured


async def test_pagerduty_storm_groups_come_from_configured_labels(gateway, infra):
    integration, key = await create(gateway, "pagerduty", storm_window_seconds=600, storm_group_labels=["group"])
    for n in range(2):
        response = await gateway.post("/v2/enqueue", json=pagerduty_event(key, dedup_key=f"{uuid.uuid4()}",
                                                                          source=f"db-{n}"))
        assert response.status_code == 202
    records = await published(infra, integration["id"], 2)
    assert {r["group_key"] for _, r in records} == {f'{integration["id"]}:{{group="prod-db"}}'}
    assert {r["storm_window_seconds"] for _, r in records} == {600}


# --- generic -------------------------------------------------------------------------------

async def test_generic_alerts_one_or_a_batch(gateway, infra):
    integration, key = await create(gateway, "generic", dedup_fields=["job", "source"], routing_rules=[
        {"name": "backups", "match": {"job": "backup"}, "set": {"assignment_group": "Storage", "urgency": 2}}])
    single = await gateway.post("/api/v1/integrations/generic", json=generic_alert(source="batch-1"),
                                headers={"authorization": f"Bearer {key}"})
    assert single.status_code == 202 and single.json()["accepted"] == 1
    batch = await gateway.post("/api/v1/integrations/generic", headers={"x-integration-key": key}, json={"alerts": [
        generic_alert(source="batch-1", status="resolved", severity="info"),
        generic_alert(source="batch-2", severity="p1", labels={"job": "report"}),
    ]})
    assert batch.status_code == 202 and batch.json()["accepted"] == 2
    first_key = single.json()["dedup_keys"][0]
    assert batch.json()["dedup_keys"][0] == first_key != batch.json()["dedup_keys"][1]

    records = await published(infra, integration["id"], 3)
    same, other = [r for k, r in records if k == first_key], [r for k, r in records if k != first_key]
    assert [(r["status"], r["severity"], r["routing"]["rule"]) for r in same] == [("firing", "error", "backups"),
                                                                                  ("resolved", "info", "backups")]
    assert [(r["status"], r["severity"], r["routing"]["rule"]) for r in other] == [("firing", "critical", None)]
    assert same[0]["routing"]["assignment_group"] == "Storage" and same[0]["routing"]["urgency"] == 2
    assert all(r["integration_kind"] == "generic" for _, r in records)


async def test_a_generic_alert_without_policy_keeps_the_senders_dedup_key(gateway, infra):
    integration, key = await create(gateway, "generic")
    dedup = f"check-{uuid.uuid4().hex[:8]}"
    response = await gateway.post("/api/v1/integrations/generic", json=generic_alert(dedup, status="acknowledged"),
                                  headers={"x-integration-key": key})
    assert response.json()["dedup_keys"] == [dedup]
    [(kafka_key, record)] = await published(infra, integration["id"], 1)
    assert kafka_key == record["dedup_key"] == dedup and record["status"] == "acknowledged"
