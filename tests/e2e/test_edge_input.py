"""Input that must be refused at the gateway's edge, with a 422 problem and nothing written:
path segments that would move a call elsewhere upstream, and text PostgreSQL cannot store."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


async def open_incident(gateway) -> dict:
    created = await gateway.post("/api/v1/incidents", json={"short_description": "Printer on fire"})
    assert created.status_code == 201
    return created.json()


async def timeline(gateway, incident_id: str) -> list[dict]:
    return (await gateway.get(f"/api/v1/incidents/{incident_id}/activity")).json()["items"]


@pytest.mark.parametrize("segment", ["%2E%2E", "..", "a%2Fb", "a%3Fb", "a%23b", "a%00b", "a%01b", "a%20b"])
async def test_a_path_id_that_is_no_id_is_a_422_and_reaches_no_service(gateway, segment):
    incident = await open_incident(gateway)
    before = await timeline(gateway, incident["id"])
    for method, path in (("POST", f"/api/v1/incidents/{segment}/comments"),
                         ("GET", f"/api/v1/incidents/{segment}"),
                         ("DELETE", f"/api/v1/sla/calendars/{segment}"),
                         ("GET", f"/api/v1/cmdb/cis/{segment}/impact")):
        response = await gateway.request(method, path, json={"text": "hello"} if method == "POST" else None)
        # ".." is resolved by the client before it is sent, and "%2F" by the server before routing:
        # paths with no route, so 404/405 there.
        expected = {404, 405} if segment in ("..", "a%2Fb") else {422}
        assert response.status_code in expected, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert await timeline(gateway, incident["id"]) == before


async def test_a_nul_character_in_a_comment_is_a_422_and_writes_nothing(gateway):
    incident = await open_incident(gateway)
    before = await timeline(gateway, incident["id"])
    refused = await gateway.post(f"/api/v1/incidents/{incident['id']}/comments", json={"text": "hello\u0000there"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert await timeline(gateway, incident["id"]) == before
    assert (await gateway.get("/api/v1/incidents", params={"q": "a\u0000b"})).status_code == 422
    accepted = await gateway.post(f"/api/v1/incidents/{incident['id']}/comments", json={"text": "hello there"})
    assert accepted.status_code == 200


async def test_numbers_for_dates_booleans_for_numbers_and_overflowing_durations_are_422s(gateway):
    incident = await open_incident(gateway)
    for method, path, kwargs in (
        ("GET", "/api/v1/cmdb/cis", {"params": {"unseen_for": "P3000Y"}}),
        ("GET", f"/api/v1/cmdb/cis/{incident['id']}", {"params": {"as_of": "0.5"}}),
        ("GET", "/api/v1/incidents", {"params": {"opened_from": "0"}}),
        ("PATCH", f"/api/v1/incidents/{incident['id']}", {"json": {"priority": True,
                                                                    "priority_override_reason": "x"}}),
    ):
        response = await gateway.request(method, path, **kwargs)
        assert response.status_code == 422, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await gateway.get(f"/api/v1/incidents/{incident['id']}")).json()["version"] == incident["version"]


async def test_an_alert_with_a_nul_character_is_refused_before_anything_is_accepted(gateway, integration_key,
                                                                                   nothing_written):
    from tests.alerts import alert, alertmanager_batch, fingerprints

    [fp] = fingerprints(1)
    poisoned = alert(fp)
    poisoned["labels"]["instance"] = "web\u00001"
    response = await gateway.post("/api/v1/integrations/alertmanager", json=alertmanager_batch([poisoned]),
                                  headers={"x-integration-key": integration_key})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"


async def test_an_alert_whose_summary_is_only_whitespace_still_becomes_an_incident(gateway, integration_key):
    from tests.alerts import alert, alertmanager_batch, fingerprints
    from tests.helpers import eventually

    [fp] = fingerprints(1)
    blank = alert(fp)
    blank["annotations"]["summary"] = "\u2003 \u00a0"
    response = await gateway.post("/api/v1/integrations/alertmanager", json=alertmanager_batch([blank]),
                                  headers={"x-integration-key": integration_key})
    assert response.status_code == 202

    async def opened():
        items = (await gateway.get("/api/v1/incidents", params={"dedup_key": fp})).json()["items"]
        assert len(items) == 1 and items[0]["short_description"] == fp

    await eventually(opened)
