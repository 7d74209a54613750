"""Bad input gets an RFC 9457 problem and writes nothing; no credentials, no entry."""

from __future__ import annotations

import httpx
import pytest

from itsm_contracts import topics
from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.helpers import token, topic_end_offsets

pytestmark = pytest.mark.e2e

WEBHOOK = "/api/v1/integrations/alertmanager"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    return problem


@pytest.fixture
async def nothing_written(infra):
    before = await topic_end_offsets(infra["ITSM_KAFKA_BOOTSTRAP"], topics.ALERTS)
    assert before, "the alerts topic should exist once the gateway is up"
    yield
    assert await topic_end_offsets(infra["ITSM_KAFKA_BOOTSTRAP"], topics.ALERTS) == before


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
        agent = {"authorization": f"Bearer {token('agent-7', roles=[])}"}
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
