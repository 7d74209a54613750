"""The incident lifecycle through the gateway, against the real services, PostgreSQL and Kafka."""

from __future__ import annotations

import uuid

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import database_scalar, read_topic, token

pytestmark = pytest.mark.e2e

DEFAULT_MATRIX = {(1, 1): 1, (1, 2): 2, (1, 3): 3, (2, 1): 2, (2, 2): 3, (2, 3): 4, (3, 1): 3, (3, 2): 4, (3, 3): 5}


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


async def open_incident(gateway, **fields) -> dict:
    body = {"short_description": f"lifecycle {uuid.uuid4().hex[:8]}", **fields}
    response = await gateway.post("/api/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def get(gateway, incident: dict) -> dict:
    response = await gateway.get(f"/api/v1/incidents/{incident['id']}")
    assert response.status_code == 200
    return response.json()


async def activity(gateway, incident: dict, **params) -> list[dict]:
    response = await gateway.get(f"/api/v1/incidents/{incident['id']}/activity", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def field_lines(lines: list[dict], name: str) -> list[tuple]:
    return [(a["old_value"], a["new_value"], a["actor"]) for a in lines if a["kind"] == "field" and a["field"] == name]


@pytest.fixture
async def as_user(platform):
    """A gateway client signed in as someone else (an agent, not an admin)."""
    clients = []

    async def make(subject: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30,
                                   headers={"authorization": f"Bearer {token(subject, roles=['agent'])}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_fields_assignment_and_who_did_what_on_the_timeline(gateway, as_user):
    incident = await open_incident(gateway, caller="caller-1", category="email", subcategory="delivery",
                                   affected_ci="mx-1", business_service="email", impact=2, urgency=2)
    assert (incident["caller"], incident["affected_ci"], incident["business_service"], incident["major"]) == (
        "caller-1", "mx-1", "email", False)
    agent = await as_user("agent-9")

    for n, change in enumerate([{"assignment_group": "service-desk"}, {"assignee": "agent-9"},
                                {"assignment_group": "messaging", "assignee": None}, {"assignee": "agent-3"}]):
        response = await agent.patch(f"/api/v1/incidents/{incident['id']}", json=change,
                                     headers={"if-match": f'"{incident["version"] + n}"'})
        assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["assignment_group"], updated["assignee"], updated["reassignment_count"]) == (
        "messaging", "agent-3", 1)
    assert response.headers["etag"] == f'"{updated["version"]}"'

    lines = await activity(gateway, incident)
    assert field_lines(lines, "assignment_group") == [("service-desk", "messaging", "agent-9"),
                                                      (None, "service-desk", "agent-9")]  # newest first
    assert lines[-1]["kind"] == "opened" and lines[-1]["actor"] == "agent-1"  # the gateway fixture's subject


async def test_if_match_guards_every_write_and_bad_input_changes_nothing(gateway):
    incident = await open_incident(gateway)
    url = f"/api/v1/incidents/{incident['id']}"
    stale = problem(await gateway.patch(url, json={"category": "network"}, headers={"if-match": '"0"'}), 412)
    assert stale["current_version"] == incident["version"]
    problem(await gateway.post(f"{url}/state", json={"state": "in_progress"}, headers={"if-match": '"0"'}), 412)
    assert problem(await gateway.patch(url, json={"state": "closed"}), 422)["errors"]
    problem(await gateway.patch(url, json={}), 422)
    problem(await gateway.patch(url, json={"major": None}), 422)
    problem(await gateway.patch(url, json={"parent_id": str(uuid.uuid4())}), 422)
    problem(await gateway.patch(url, json={"priority": 1}), 422)  # an override needs its reason
    problem(await gateway.post(f"{url}/state", json={"state": "on_hold"}), 422)  # and on hold a reason
    after = await get(gateway, incident)
    assert after["version"] == incident["version"] and after["category"] is None and after["state"] == "new"
    assert [a["kind"] for a in await activity(gateway, incident)] == ["opened"]
    problem(await gateway.patch(f"/api/v1/incidents/{uuid.uuid4()}", json={"category": "x"}), 404)


async def test_awaiting_caller_needs_a_comment_and_the_callers_comment_resumes_work(gateway, as_user):
    incident = await open_incident(gateway, caller="caller-7")
    url = f"/api/v1/incidents/{incident['id']}"
    problem(await gateway.post(f"{url}/state", json={"state": "on_hold", "hold_reason": "awaiting_caller"}), 422)
    held = await gateway.post(f"{url}/state", json={"state": "on_hold", "hold_reason": "awaiting_caller",
                                                    "comment": "Which printer is it?"})
    assert held.status_code == 200 and held.json()["hold_reason"] == "awaiting_caller"

    someone_else = await as_user("agent-5")
    assert (await someone_else.post(f"{url}/comments", json={"text": "Any news?"})).json()["state"] == "on_hold"
    caller = await as_user("caller-7")
    resumed = await caller.post(f"{url}/comments", json={"text": "The one on floor 3"})
    assert resumed.status_code == 200
    assert (resumed.json()["state"], resumed.json()["hold_reason"]) == ("in_progress", None)
    note = await gateway.post(f"{url}/work-notes", json={"text": "Toner, probably"})
    assert note.status_code == 200
    problem(await gateway.post(f"{url}/work-notes", json={"text": ""}), 422)

    lines = await activity(gateway, incident)
    said = [(a["kind"], a["actor"], a["text"]) for a in lines if a["kind"] in ("comment", "work_note")]
    assert said == [("work_note", "agent-1", "Toner, probably"), ("comment", "caller-7", "The one on floor 3"),
                    ("comment", "agent-5", "Any news?"), ("comment", "agent-1", "Which printer is it?")]
    assert field_lines(lines, "state")[0] == ("on_hold", "in_progress", "caller-7")


async def test_reopen_within_the_window_and_a_409_saying_why_after_it(gateway):
    incident = await open_incident(gateway)
    url = f"/api/v1/incidents/{incident['id']}"
    resolution = {"resolution_code": "fixed", "resolution_notes": "Restarted the queue"}
    assert (await gateway.post(f"{url}/resolve", json=resolution)).status_code == 200
    reopened = await gateway.post(f"{url}/state", json={"state": "in_progress"})
    assert reopened.status_code == 200
    assert (reopened.json()["state"], reopened.json()["reopen_count"], reopened.json()["resolution_code"]) == (
        "in_progress", 1, None)

    assert (await gateway.post(f"{url}/resolve", json=resolution)).status_code == 200
    # Eight days pass for this incident (the window is ITSM_INCIDENTS_REOPEN_WINDOW_DAYS, 7 by default).
    await database_scalar("incidents", "UPDATE incidents SET resolved_at = resolved_at - interval '8 days' "
                          "WHERE id = $1", incident["id"])
    late = problem(await gateway.post(f"{url}/state", json={"state": "in_progress"}), 409)
    assert "7 days after resolution" in late["detail"] and late["reopen_deadline"]
    assert (await get(gateway, incident))["state"] == "resolved"
    assert (await gateway.post(f"{url}/state", json={"state": "closed"})).json()["state"] == "closed"
    closed = problem(await gateway.post(f"{url}/state", json={"state": "in_progress"}), 409)
    assert closed["allowed_states"] == []


async def test_children_follow_their_parent_and_each_child_publishes_its_events(gateway, infra):
    parent = await open_incident(gateway)
    first = await open_incident(gateway, parent_id=parent["id"])
    second = await open_incident(gateway)
    linked = await gateway.patch(f"/api/v1/incidents/{second['id']}", json={"parent_id": parent["id"]})
    assert linked.status_code == 200 and linked.json()["parent_id"] == parent["id"]
    grandchild = problem(await gateway.post("/api/v1/incidents", json={"short_description": "x",
                                                                       "parent_id": first["id"]}), 422)
    assert "child" in grandchild["detail"]
    children = (await gateway.get("/api/v1/incidents", params={"parent_id": parent["id"]})).json()["items"]
    assert sorted(c["id"] for c in children) == sorted([first["id"], second["id"]])

    url = f"/api/v1/incidents/{parent['id']}"
    assert (await gateway.post(f"{url}/state", json={"state": "in_progress"})).status_code == 200
    assert {(await get(gateway, c))["state"] for c in (first, second)} == {"in_progress"}
    assert (await gateway.post(f"{url}/state", json={"state": "on_hold", "hold_reason": "awaiting_vendor"})
            ).status_code == 200
    assert {(await get(gateway, c))["hold_reason"] for c in (first, second)} == {"awaiting_vendor"}
    resolved = await gateway.post(f"{url}/resolve", json={"resolution_code": "fixed_by_vendor",
                                                         "resolution_notes": "Firmware 2.1 installed"})
    assert resolved.status_code == 200
    for child in (first, second):
        now = await get(gateway, child)
        assert (now["state"], now["resolution_code"], now["resolution_notes"]) == (
            "resolved", "fixed_by_vendor", "Firmware 2.1 installed")
        assert field_lines(await activity(gateway, child), "state")[0] == ("on_hold", "resolved", "agent-1")

    def types_for(records, subject):
        return [e.type for e in map(CloudEvent.from_json, (r.value for r in records)) if e.subject == subject]

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.INCIDENTS,
                               until=lambda rs: all("itsm.incident.resolved" in types_for(rs, c["id"])
                                                    for c in (first, second)))
    assert types_for(records, first["id"]) == [
        "itsm.incident.opened", "itsm.incident.state_changed", "itsm.incident.state_changed",
        "itsm.incident.state_changed", "itsm.incident.resolved"]


async def test_priority_matrix_is_admin_data_new_incidents_and_reprioritisation_use(gateway, as_user):
    url = "/api/v1/incidents/priority-matrix"
    current = (await gateway.get(url)).json()
    assert {(c["impact"], c["urgency"]): c["priority"] for c in current["cells"]} == DEFAULT_MATRIX
    # ServiceNow's Brazil docs put 3/3 at 4-Low: an admin who wants that can have it.
    brazil = [{"impact": i, "urgency": u, "priority": 4 if (i, u) == (3, 3) else p}
              for (i, u), p in DEFAULT_MATRIX.items()]
    agent = await as_user("agent-2")
    problem(await agent.put(url, json={"cells": brazil}), 403)
    problem(await gateway.put(url, json={"cells": brazil[:8]}), 422)
    problem(await gateway.put(url, json={"cells": brazil[:8] + [brazil[0]]}), 422)
    problem(await gateway.put(url, json={"cells": brazil[:8] + [{"impact": 3, "urgency": 3, "priority": 6}]}), 422)
    assert (await gateway.get(url)).json() == current  # refused changes left it as it was
    try:
        changed = await gateway.put(url, json={"cells": brazil})
        assert changed.status_code == 200 and changed.json()["updated_by"] == "agent-1"
        assert (await open_incident(gateway, impact=3, urgency=3))["priority"] == 4
        older = await open_incident(gateway, impact=3, urgency=1)
        moved = await gateway.patch(f"/api/v1/incidents/{older['id']}", json={"urgency": 3})
        assert moved.json()["priority"] == 4  # 5 with the default matrix
    finally:
        default = [{"impact": i, "urgency": u, "priority": p} for (i, u), p in DEFAULT_MATRIX.items()]
        assert (await gateway.put(url, json={"cells": default})).status_code == 200


async def test_a_priority_override_is_recorded_with_its_reason_until_impact_or_urgency_change(gateway):
    incident = await open_incident(gateway, impact=3, urgency=3)
    url = f"/api/v1/incidents/{incident['id']}"
    overridden = (await gateway.patch(url, json={"priority": 1, "priority_override_reason": "the CEO's laptop"})
                  ).json()
    assert (overridden["priority"], overridden["priority_label"], overridden["priority_override_reason"]) == (
        1, "Critical", "the CEO's laptop")
    lines = await activity(gateway, incident)
    assert field_lines(lines, "priority") == [("5", "1", "agent-1")]
    assert field_lines(lines, "priority_override_reason") == [(None, "the CEO's laptop", "agent-1")]
    reassessed = (await gateway.patch(url, json={"impact": 2})).json()
    assert (reassessed["priority"], reassessed["priority_override_reason"]) == (4, None)
    await gateway.patch(url, json={"priority": 2, "priority_override_reason": "month-end close"})
    back = (await gateway.patch(url, json={"priority": None})).json()  # null: back to the matrix
    assert (back["priority"], back["priority_override_reason"]) == (4, None)


async def test_list_filters_sorts_searches_pages_and_counts(gateway):
    marker = uuid.uuid4().hex[:10]
    group = f"group-{marker}"
    made = [
        await open_incident(gateway, short_description=f"{marker} mail down", impact=1, urgency=1,
                            assignment_group=group, affected_ci="mx-1", major=True),
        await open_incident(gateway, short_description="printer jam", description=f"ticket {marker}",
                            impact=2, urgency=2, assignment_group=group, business_service="print"),
        await open_incident(gateway, short_description=f"{marker} VPN slow", impact=3, urgency=3,
                            assignment_group=group),
        await open_incident(gateway, short_description=f"{marker} 100%_done", impact=3, urgency=2,
                            assignment_group=group),
    ]
    await gateway.post(f"/api/v1/incidents/{made[2]['id']}/state", json={"state": "in_progress"})

    async def ids(**params) -> list[str]:
        response = await gateway.get("/api/v1/incidents", params={"assignment_group": group, **params})
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await ids() == [i["id"] for i in reversed(made)]  # newest first by default
    assert sorted(await ids(q=marker.upper())) == sorted(i["id"] for i in made)  # in the description too
    assert await ids(q=f"{marker} 100%_") == [made[3]["id"]]  # % and _ are text, not wildcards
    assert await ids(q=f"{marker} %") == []
    assert await ids(state="in_progress") == [made[2]["id"]]
    assert sorted(await ids(priority=[1, 3])) == sorted([made[0]["id"], made[1]["id"]])
    assert await ids(major="true") == [made[0]["id"]]
    assert await ids(affected_ci="mx-1") == [made[0]["id"]]
    assert await ids(business_service="print") == [made[1]["id"]]
    opened = made[1]["opened_at"]
    assert await ids(opened_from=opened, opened_before=made[2]["opened_at"]) == [made[1]["id"]]
    assert await ids(updated_from=made[3]["updated_at"]) == [made[3]["id"], made[2]["id"]]
    problem(await gateway.get("/api/v1/incidents", params={"opened_from": "2026-01-01T00:00:00"}), 422)  # no zone

    # Priority ascending (P1 first) page by page: the cursor carries the sort key.
    seen, cursor = [], None
    while True:
        page = (await gateway.get("/api/v1/incidents", params={
            "assignment_group": group, "sort": "priority", "order": "asc", "limit": 1, **({"cursor": cursor} if cursor
                                                                                          else {})})).json()
        seen += [(i["priority"], i["id"]) for i in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
        other_order = await gateway.get("/api/v1/incidents", params={"cursor": cursor, "sort": "updated_at"})
        assert "sort order" in problem(other_order, 400)["detail"]
    assert [p for p, _ in seen] == [1, 3, 4, 5] and len({i for _, i in seen}) == 4

    counts = (await gateway.get("/api/v1/incidents/counts", params={"assignment_group": group})).json()
    assert counts["total"] == 4
    assert counts["by_state"] == {"new": 3, "in_progress": 1, "on_hold": 0, "resolved": 0, "closed": 0,
                                  "canceled": 0}
    assert counts["by_priority"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 1}
    narrowed = (await gateway.get("/api/v1/incidents/counts", params={"assignment_group": group, "state": "new"}))
    assert narrowed.json()["by_priority"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 0}


async def test_activity_pages_newest_first_with_a_cursor(gateway):
    incident = await open_incident(gateway)
    for n in range(5):
        assert (await gateway.post(f"/api/v1/incidents/{incident['id']}/work-notes",
                                   json={"text": f"note {n}"})).status_code == 200
    texts, cursor = [], None
    while True:
        response = await gateway.get(f"/api/v1/incidents/{incident['id']}/activity",
                                     params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        texts += [a["text"] for a in response.json()["items"]]
        if (cursor := response.json()["next_cursor"]) is None:
            break
    assert texts == ["note 4", "note 3", "note 2", "note 1", "note 0", incident["short_description"]]
    problem(await gateway.get(f"/api/v1/incidents/{uuid.uuid4()}/activity"), 404)

