"""Bad input gets an RFC 9457 problem and writes nothing; no credentials, no entry.

The PagerDuty endpoint is the one exception: it answers in PagerDuty's own error shape.
"""

from __future__ import annotations

import httpx
import pytest

from tests.alerts import (
    alert, alertmanager_batch, fingerprints, generic_alert, grafana_alert, grafana_batch, pagerduty_event,
)
from tests.helpers import token

pytestmark = pytest.mark.e2e

WEBHOOK = "/api/v1/integrations/alertmanager"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    return problem


async def test_invalid_json_is_400(gateway, integration_key, nothing_written):
    response = await gateway.post(WEBHOOK, content=b'{"version": "4", "alerts": [', headers={
        "x-integration-key": integration_key, "content-type": "application/json"})
    assert "not valid JSON" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (alertmanager_batch([alert("fp")]) | {"version": "3"}, "version"),
        (alertmanager_batch([]), "alerts"),
        (alertmanager_batch([alert("fp", status="flapping")]), "status"),
        ({"alerts": "not a list"}, "alerts"),
    ],
)
async def test_wrong_schema_is_422_naming_the_field(gateway, integration_key, nothing_written, body, where):
    problem = assert_problem(await gateway.post(WEBHOOK, json=body, headers={"x-integration-key": integration_key}),
                             422)
    assert any(where in error["location"] for error in problem["errors"])


async def test_unknown_or_missing_integration_key_is_401(gateway, nothing_written):
    body = alertmanager_batch([alert(fingerprints(1)[0])])
    assert_problem(await gateway.post(WEBHOOK, json=body, headers={"x-integration-key": "itsm_not-a-key"}), 401)
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as anonymous:
        assert_problem(await anonymous.post(WEBHOOK, json=body), 401)


async def test_revoked_key_is_refused(gateway, integration_key, nothing_written):
    integrations = (await gateway.get("/api/v1/integrations")).json()
    mine = next(i for i in integrations if integration_key.startswith(i["key_prefix"]) and i["revoked_at"] is None)
    assert (await gateway.delete(f"/api/v1/integrations/{mine['id']}")).status_code == 204
    body = alertmanager_batch([alert(fingerprints(1)[0])])
    assert_problem(await gateway.post(WEBHOOK, json=body, headers={"x-integration-key": integration_key}), 401)


async def test_oversize_body_is_413(gateway, integration_key, nothing_written):
    huge = alertmanager_batch([alert(fp) | {"annotations": {"description": "x" * 2000}} for fp in fingerprints(600)])
    assert_problem(await gateway.post(WEBHOOK, json=huge, headers={"x-integration-key": integration_key}), 413)


async def test_user_endpoints_need_a_valid_bearer_token(gateway):
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as client:
        assert_problem(await client.get("/api/v1/incidents"), 401)
        forged = token()[:-4] + "AAAA"
        assert_problem(await client.get("/api/v1/incidents", headers={"authorization": f"Bearer {forged}"}), 401)
        agent = {"authorization": f"Bearer {token('agent-7', roles=['agent'])}"}
        assert (await client.get("/api/v1/incidents", headers=agent)).status_code == 200
        assert_problem(await client.post("/api/v1/integrations", json={"name": "x"}, headers=agent), 403)


async def test_unknown_incident_is_404_problem(gateway):
    problem = assert_problem(await gateway.get("/api/v1/incidents/00000000-0000-0000-0000-000000000000"), 404)
    assert "does not exist" in problem["detail"]


async def test_invalid_incident_is_422_and_opens_nothing(gateway):
    before = (await gateway.get("/api/v1/incidents", params={"limit": 200})).json()["items"]
    assert_problem(await gateway.post("/api/v1/incidents", json={"short_description": "", "impact": 7}), 422)
    after = (await gateway.get("/api/v1/incidents", params={"limit": 200})).json()["items"]
    assert [i["id"] for i in after] == [i["id"] for i in before]


# --- every monitoring webhook: Grafana, generic, PagerDuty -------------------------------

GRAFANA = "/api/v1/integrations/grafana"
GENERIC = "/api/v1/integrations/generic"
PAGERDUTY = "/api/v1/integrations/pagerduty/v2/enqueue"


async def key_of(gateway, kind: str) -> str:
    response = await gateway.post("/api/v1/integrations", json={"name": f"bad-input-{kind}", "kind": kind})
    assert response.status_code == 201, response.text
    return response.json()["key"]


@pytest.mark.parametrize(("kind", "path"), [("grafana", GRAFANA), ("generic", GENERIC)])
async def test_invalid_json_on_any_webhook_is_400(gateway, nothing_written, kind, path):
    response = await gateway.post(path, content=b'{"alerts": [', headers={
        "x-integration-key": await key_of(gateway, kind), "content-type": "application/json"})
    assert "not valid JSON" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize(
    ("kind", "path", "body", "where"),
    [
        ("grafana", GRAFANA, grafana_batch([grafana_alert("fp")]) | {"version": "4"}, "version"),
        ("grafana", GRAFANA, grafana_batch([]), "alerts"),
        ("grafana", GRAFANA, grafana_batch([grafana_alert("fp", status="pending")]), "status"),
        ("generic", GENERIC, generic_alert() | {"severity": "apocalyptic"}, "severity"),
        ("generic", GENERIC, {"alerts": [generic_alert(), {"status": "firing"}]}, "summary"),
        ("generic", GENERIC, generic_alert() | {"dedupkey": "typo"}, "dedupkey"),
        ("generic", GENERIC, {"alerts": []}, "alerts"),
    ],
)
async def test_wrong_schema_on_any_webhook_is_422_naming_the_field(gateway, nothing_written, kind, path, body, where):
    response = await gateway.post(path, json=body, headers={"x-integration-key": await key_of(gateway, kind)})
    problem = assert_problem(response, 422)
    assert any(where in error["location"] for error in problem["errors"])


@pytest.mark.parametrize(("path", "body"), [(GRAFANA, grafana_batch([grafana_alert("fp")])),
                                            (GENERIC, generic_alert("k"))])
async def test_unknown_key_on_any_webhook_is_401(gateway, nothing_written, path, body):
    assert_problem(await gateway.post(path, json=body, headers={"x-integration-key": "itsm_not-a-key"}), 401)
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as anonymous:
        assert_problem(await anonymous.post(path, json=body), 401)


async def test_a_key_works_only_on_its_own_kinds_webhook(gateway, integration_key, nothing_written):
    # integration_key is an Alertmanager integration's.
    for path, body in ((GRAFANA, grafana_batch([grafana_alert("fp")])), (GENERIC, generic_alert("k"))):
        problem = assert_problem(await gateway.post(path, json=body, headers={"x-integration-key": integration_key}),
                                 403)
        assert "/api/v1/integrations/alertmanager" in problem["detail"]
    generic_key = await key_of(gateway, "generic")
    assert_problem(await gateway.post(WEBHOOK, json=alertmanager_batch([alert("fp")]),
                                      headers={"x-integration-key": generic_key}), 403)


async def test_oversize_generic_batch_is_413(gateway, nothing_written):
    huge = {"alerts": [generic_alert(f"k{n}") | {"description": "x" * 2000} for n in range(600)]}
    assert_problem(await gateway.post(GENERIC, json=huge, headers={"x-integration-key": await key_of(gateway,
                                                                                                     "generic")}), 413)


def assert_pagerduty_error(response: httpx.Response, status: str, message: str) -> list[str]:
    """PagerDuty's own error shape, which PagerDuty clients parse (not problem+json)."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["status"], body["message"]) == (status, message) and set(body) == {"status", "message", "errors"}
    return body["errors"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"event_action": "acknowledge", "payload": None}, "'dedup_key' is missing"),
        ({"event_action": "resolve", "dedup_key": ""}, "'dedup_key'"),
        ({"event_action": "escalate"}, "'event_action' must be one of trigger, acknowledge, resolve"),
        ({"payload": None}, "'payload'"),
        ({"payload": {"summary": "disk", "source": "db-1", "severity": "high"}}, "'payload.severity'"),
        ({"payload": {"summary": "disk", "severity": "error"}}, "'payload.source' is missing"),
    ],
)
async def test_invalid_pagerduty_events_get_pagerdutys_400(gateway, nothing_written, change, error):
    event = pagerduty_event(await key_of(gateway, "pagerduty")) | change
    event = {k: v for k, v in event.items() if v is not None}
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as sender:
        errors = assert_pagerduty_error(await sender.post(PAGERDUTY, json=event), "invalid event",
                                        "Event object is invalid")
    assert any(e.startswith(error) for e in errors), errors


async def test_pagerduty_json_errors_and_unknown_routing_keys_are_pagerdutys_400(gateway, integration_key,
                                                                                 nothing_written):
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as sender:
        for path in (PAGERDUTY, "/v2/enqueue"):
            broken = await sender.post(path, content=b'{"routing_key": ', headers={"content-type": "application/json"})
            assert assert_pagerduty_error(broken, "Unrecognized object", "Event object format is unrecognized") == [
                "JSON parse error"]
            # PagerDuty answers a key it does not know with 400 "Invalid routing key", not 401: so do we here.
            unknown = await sender.post(path, json=pagerduty_event("0" * 32, dedup_key="x"))
            assert assert_pagerduty_error(unknown, "invalid event", "Event object is invalid") == [
                "Invalid routing key"]
            missing = await sender.post(path, json={"event_action": "trigger"})
            assert "'routing_key' is missing" in assert_pagerduty_error(missing, "invalid event",
                                                                        "Event object is invalid")
            other_kind = await sender.post(path, json=pagerduty_event(integration_key, dedup_key="x"))
            assert "alertmanager" in assert_pagerduty_error(other_kind, "invalid event", "Event object is invalid")[0]


async def test_a_revoked_pagerduty_key_is_refused(gateway, nothing_written):
    response = await gateway.post("/api/v1/integrations", json={"name": "pd-revoked", "kind": "pagerduty"})
    created = response.json()
    assert (await gateway.delete(f"/api/v1/integrations/{created['id']}")).status_code == 204
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as sender:
        refused = await sender.post(PAGERDUTY, json=pagerduty_event(created["key"], dedup_key="x"))
    assert assert_pagerduty_error(refused, "invalid event", "Event object is invalid") == ["Invalid routing key"]
