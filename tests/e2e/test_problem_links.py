"""Incidents follow their problem through the problems service's events (issue 14), never a call between the
services: through the gateway, against the real services, PostgreSQL and Kafka."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.helpers import eventually

pytestmark = pytest.mark.e2e

API = "/api/v1"


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def open_incident(gateway) -> dict:
    return ok(await gateway.post(f"{API}/incidents", json={"short_description": f"checkout {uuid.uuid4().hex[:8]}"}),
              201)


async def incident(gateway, incident_id: str) -> dict:
    return ok(await gateway.get(f"{API}/incidents/{incident_id}"))


async def until(gateway, incident_id: str, holds) -> dict:
    async def probe():
        found = await incident(gateway, incident_id)
        assert holds(found), found
        return found
    return await eventually(probe)


async def test_incidents_follow_links_and_the_resolution_of_their_problem(platform, gateway):
    first, second = await open_incident(gateway), await open_incident(gateway)
    problem = ok(await gateway.post(f"{API}/problems", json={
        "short_description": f"checkout OOM {uuid.uuid4().hex[:8]}", "impact": 2, "urgency": 2}), 201)
    url = f"{API}/problems/{problem['id']}"
    for linked in (first, second):
        ok(await gateway.post(f"{url}/incidents", json={"incident_id": linked["id"]}))
    for linked in (first, second):
        found = await until(gateway, linked["id"], lambda i: i["problem_id"] == problem["id"])
        assert found["version"] == linked["version"] + 1  # the link is a change others' If-Match must see
    lines = ok(await gateway.get(f"{API}/incidents/{first['id']}/activity"))["items"]
    [(old, new, actor)] = [(a["old_value"], a["new_value"], a["actor"]) for a in lines
                           if a["kind"] == "field" and a["field"] == "problem_id"]
    assert (old, new) == (None, problem["id"]) and actor not in (None, "system")
    listed = ok(await gateway.get(f"{API}/incidents", params={"problem_id": problem["id"]}))["items"]
    assert sorted(i["id"] for i in listed) == sorted([first["id"], second["id"]])

    ok(await gateway.delete(f"{url}/incidents/{second['id']}"))
    await until(gateway, second["id"], lambda i: i["problem_id"] is None)

    ok(await gateway.post(f"{url}/state", json={"state": "assess"}))
    ok(await gateway.post(f"{url}/state", json={"state": "root_cause_analysis"}))
    ok(await gateway.post(f"{url}/root-cause", json={"description": "the session cache has no bound",
                                                     "cause_code": "software"}))
    ok(await gateway.post(f"{url}/resolve", json={"resolution_code": "fix_applied", "notes": "patched",
                                                  "resolve_linked_incidents": True}))

    resolved = await until(gateway, first["id"], lambda i: i["state"] == "resolved")
    assert resolved["resolution_code"] == "resolved_by_problem"
    assert problem["number"] in resolved["resolution_notes"] and "patched" in resolved["resolution_notes"]
    assert resolved["problem_id"] == problem["id"]
    # The unlinked one is not the problem's any more: it stays open (a later event would have reached it by now).
    left = await incident(gateway, second["id"])
    assert (left["state"], left["problem_id"], left["resolution_code"]) == ("new", None, None)


async def test_incidents_named_when_a_problem_is_opened_or_edited_hear_of_it_as_of_any_link(gateway):
    first, second, third = [await open_incident(gateway) for _ in range(3)]
    problem = ok(await gateway.post(f"{API}/problems", json={
        "short_description": f"disk fills {uuid.uuid4().hex[:8]}", "related_incidents": [first["id"], second["id"]]}),
        201)
    for named in (first, second):
        await until(gateway, named["id"], lambda i: i["problem_id"] == problem["id"])
    # The edit's list replaces the old one: second is dropped, third added, each told.
    ok(await gateway.patch(f"{API}/problems/{problem['id']}", json={"related_incidents": [first["id"], third["id"]]}))
    await until(gateway, third["id"], lambda i: i["problem_id"] == problem["id"])
    await until(gateway, second["id"], lambda i: i["problem_id"] is None)
    assert (await incident(gateway, first["id"]))["problem_id"] == problem["id"]
