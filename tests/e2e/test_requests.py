"""Requests through the gateway (issue 17): ordering from the catalogue, approvals, fulfilment tasks, who sees what,
and the events on itsm.requests."""

from __future__ import annotations

import uuid

import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import database_scalar, eventually, if_match, ok, problem, read_topic, signed_in

pytestmark = pytest.mark.e2e

LAPTOP_FORM = {
    "type": "object",
    "properties": {
        "ram_gb": {"type": "integer", "enum": [8, 16, 32]},
        "model": {"type": "string", "enum": ["13-inch", "15-inch"]},
        "justification": {"type": "string", "minLength": 10},
    },
    "required": ["ram_gb", "model"],
}
GOOD_ANSWERS = {"ram_gb": 16, "model": "13-inch"}
TWO_TASKS = {"kind": "tasks", "tasks": [{"name": "prepare the laptop", "assignment_group": "hardware-desk"},
                                        {"name": "create the account", "assignment_group": "identity-desk"}]}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def catalogue_item(gateway, *, flow: list, form: dict | None = None, groups: list[str] | None = None) -> dict:
    category = ok(await gateway.post("/api/v1/catalog/categories", json={"name": unique("hardware")}), 201)
    return ok(await gateway.post("/api/v1/catalog/items", json={
        "name": unique("new laptop"), "category_id": category["id"], "short_description": "A laptop for work",
        "form": form or LAPTOP_FORM, "flow": flow, "groups": groups or [], "response_target_minutes": 60,
        "fulfilment_target_minutes": 2880}), 201)


async def directory(gateway, *, people: dict[str, str | None] | None = None,
                    groups: dict[str, list[str]] | None = None) -> None:
    """People (username -> manager) and groups (name -> members) added to the directory through the gateway; back
    once the requests service has copied them from itsm.directory (who approves is read from that copy)."""
    people, groups = people or {}, groups or {}
    for username in [*{m for m in people.values() if m and m not in people}, *people]:
        ok(await gateway.post("/api/v1/people", json={"username": username, "name": username,
                                                      "manager": people.get(username)}), 201)
    for name, members in groups.items():
        for member in members:
            if member not in people:
                ok(await gateway.post("/api/v1/people", json={"username": member, "name": member}), 201)
        ok(await gateway.post("/api/v1/groups", json={"name": name, "members": members}), 201)

    async def copied() -> None:
        for username, manager in people.items():
            assert await database_scalar("requests", "SELECT manager FROM people WHERE username = $1",
                                         username) == manager
        for name, members in groups.items():
            assert await database_scalar("requests", "SELECT count(*) FROM group_members WHERE group_name = $1",
                                         name) == len(members)

    await eventually(copied)


async def request_events(infra, request_id: str, until_type: str) -> list[CloudEvent]:
    def mine(records) -> list[CloudEvent]:
        return [e for e in (CloudEvent.from_json(r.value) for r in records) if e.subject == request_id]

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.REQUESTS,
                               until=lambda rs: any(e.type == until_type for e in mine(rs)))
    return mine(records)


async def test_bad_answers_are_one_422_naming_every_field_of_every_item_and_nothing_is_written(platform, gateway):
    item = await catalogue_item(gateway, flow=[TWO_TASKS])
    alice = unique("alice")
    async with signed_in(platform, alice, "requester") as client:
        answer = problem(await client.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": {"ram_gb": 12, "model": "13-inch"}},
            {"catalog_item_id": item["id"], "answers": {"model": "17-inch", "justification": "short"}},
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS},
        ]}), 422)
        named = {(e["item"], e["field"]) for e in answer["errors"]}
        assert named == {(0, "ram_gb"), (1, "ram_gb"), (1, "model"), (1, "justification")}, answer
        assert all(e["message"] for e in answer["errors"])
        assert ok(await client.get("/api/v1/requests"))["items"] == []
    assert await database_scalar("requests", "SELECT count(*) FROM requests WHERE requested_by = $1", alice) == 0


async def test_an_item_the_caller_may_not_order_is_named_in_the_422(platform, gateway):
    item = await catalogue_item(gateway, flow=[], groups=["engineering"])
    async with signed_in(platform, unique("alice"), "requester", groups=["sales"]) as client:
        answer = problem(await client.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}), 422)
        assert answer["errors"][0]["item"] == 0 and answer["errors"][0]["catalog_item_id"] == item["id"]
    async with signed_in(platform, unique("erin"), "requester", groups=["engineering"]) as client:
        request = ok(await client.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}), 201)
        assert request["state"] == "fulfilled"  # an empty flow fulfils the item when it is ordered


async def test_the_manager_approves_then_the_tasks_fulfil_the_request_with_every_step_an_event(
        platform, gateway, infra):
    item = await catalogue_item(gateway, flow=[{"kind": "approval", "approver": "manager"}, TWO_TASKS])
    alice, bob = unique("alice"), unique("bob")
    await directory(gateway, people={alice: bob})
    async with signed_in(platform, alice, "requester") as client:
        request = ok(await client.post("/api/v1/requests", json={
            "requested_for": "someone-else", "items": [{"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}),
            201)
    assert request["requested_for"] == alice  # a requester orders for themselves
    assert request["state"] == "pending_approval" and request["tasks"] == []
    [approval] = request["approvals"]
    assert approval["approvers"] == [bob]
    [requested] = request["items"]
    assert (requested["form_version"], requested["answers"], requested["state"]) == (1, GOOD_ANSWERS,
                                                                                   "pending_approval")

    async with signed_in(platform, unique("mallory"), "requester") as mallory:
        problem(await mallory.post(f"/api/v1/approvals/{approval['id']}/approve", json={}), 403)
    async with signed_in(platform, bob, "requester") as manager:
        [waiting] = ok(await manager.get("/api/v1/approvals"))["items"]
        assert (waiting["id"], waiting["request_number"], waiting["requested_for"]) == (
            approval["id"], request["number"], alice)
        approved = ok(await manager.post(f"/api/v1/approvals/{approval['id']}/approve", json={"comment": "fine"}))
        assert ok(await manager.get("/api/v1/approvals"))["items"] == []
        problem(await manager.post(f"/api/v1/approvals/{approval['id']}/approve", json={}), 409)
    assert approved["state"] == "in_fulfilment"
    assert sorted((t["name"], t["assignment_group"], t["state"]) for t in approved["tasks"]) == [
        ("create the account", "identity-desk", "open"), ("prepare the laptop", "hardware-desk", "open")]

    async with signed_in(platform, unique("carol"), "agent") as agent:
        listed = ok(await agent.get("/api/v1/tasks", params={"record_id": requested["id"]}))["items"]
        assert {t["id"] for t in listed} == {t["id"] for t in approved["tasks"]}
        first, second = approved["tasks"]
        task = ok(await agent.get(f"/api/v1/tasks/{first['id']}"))
        problem(await agent.post(f"/api/v1/tasks/{first['id']}/state", json={"state": "in_progress"},
                                 headers={"if-match": '"999"'}), 412)
        task = ok(await agent.post(f"/api/v1/tasks/{first['id']}/assign",
                                   json={"assignment_group": "hardware-desk", "assignee": "carol"},
                                   headers=if_match(task)))
        ok(await agent.post(f"/api/v1/tasks/{first['id']}/state", json={"state": "done"}, headers=if_match(task)))
        assert ok(await agent.get(f"/api/v1/requests/{request['id']}"))["state"] == "in_fulfilment"
        ok(await agent.post(f"/api/v1/tasks/{second['id']}/state", json={"state": "done"}))
        problem(await agent.post(f"/api/v1/tasks/{second['id']}/state", json={"state": "open"}), 409)

    async with signed_in(platform, alice, "requester") as client:
        done = ok(await client.get(f"/api/v1/requests/{request['id']}"))
        assert done["state"] == "fulfilled" and done["items"][0]["state"] == "fulfilled" and done["closed_at"]
        steps = ok(await client.get(f"/api/v1/requests/{request['id']}/activity", params={"limit": 200}))["items"]
        fields = [line["field"] for line in steps]
        assert f"{requested['number']}.approval" in fields and "state" in fields
        assert any(line["field"] == f"{first['number']}.assigned" and line["new_value"] == "hardware-desk / carol"
                   for line in steps)

    events = await request_events(infra, request["id"], "itsm.request.closed")
    assert [e.type for e in events] == [
        "itsm.request.submitted", "itsm.request.approval_requested", "itsm.request.approved",
        "itsm.request.task_assigned", "itsm.request.task_assigned", "itsm.request.task_assigned",
        "itsm.request.task_completed", "itsm.request.task_completed", "itsm.request.fulfilled",
        "itsm.request.closed"]
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)
    assert events[-1].data["state"] == "fulfilled" and events[2].data["approved_by"] == [bob]


async def test_a_group_rejection_rejects_the_item_and_closes_the_request(platform, gateway, infra):
    group = unique("cab")
    item = await catalogue_item(gateway, flow=[{"kind": "approval", "approver": "group", "group": group,
                                                "rule": "all"}, TWO_TASKS])
    alice, dave, erin = unique("alice"), unique("dave"), unique("erin")
    await directory(gateway, groups={group: [dave, erin]})
    async with signed_in(platform, alice, "requester") as client:
        request = ok(await client.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}), 201)
    [approval] = request["approvals"]
    assert sorted(approval["approvers"]) == sorted([dave, erin]) and approval["rule"] == "all"
    async with signed_in(platform, dave, "requester") as member:
        still = ok(await member.post(f"/api/v1/approvals/{approval['id']}/approve", json={}))
        assert still["state"] == "pending_approval"  # all must approve: one has
    async with signed_in(platform, erin, "requester") as member:
        rejected = ok(await member.post(f"/api/v1/approvals/{approval['id']}/reject", json={"comment": "too dear"}))
    assert rejected["state"] == "rejected" and rejected["items"][0]["state"] == "rejected"
    assert rejected["tasks"] == [] and rejected["closed_at"]
    events = await request_events(infra, request["id"], "itsm.request.closed")
    [rejection] = [e for e in events if e.type == "itsm.request.rejected"]
    assert (rejection.data["rejected_by"], rejection.data["comment"]) == (erin, "too dear")


async def test_a_requester_sees_and_cancels_only_their_own_requests(platform, gateway):
    item = await catalogue_item(gateway, flow=[TWO_TASKS])
    alice, carol = unique("alice"), unique("carol")
    async with signed_in(platform, alice, "requester") as client:
        mine = ok(await client.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}), 201)
    async with signed_in(platform, unique("agent"), "agent") as agent:
        # An agent orders for someone: it is theirs to see too.
        for_carol = ok(await agent.post("/api/v1/requests", json={"requested_for": carol, "items": [
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}), 201)
        assert for_carol["requested_for"] == carol
    async with signed_in(platform, carol, "requester") as other:
        assert [r["id"] for r in ok(await other.get("/api/v1/requests"))["items"]] == [for_carol["id"]]
        assert [r["id"] for r in ok(await other.get("/api/v1/requests", params={"involving": alice}))["items"]] == [
            for_carol["id"]]
        for answer in (await other.get(f"/api/v1/requests/{mine['id']}"),
                       await other.get(f"/api/v1/requests/{mine['id']}/activity"),
                       await other.post(f"/api/v1/requests/{mine['id']}/cancel", json={})):
            assert problem(answer, 404)["detail"] == f"request {mine['id']} does not exist"
        problem(await other.get("/api/v1/tasks"), 403)  # tasks are the desk's
    async with signed_in(platform, alice, "requester") as client:
        canceled = ok(await client.post(f"/api/v1/requests/{mine['id']}/cancel", json={"reason": "not needed"}))
    assert canceled["state"] == "canceled" and all(t["state"] == "canceled" for t in canceled["tasks"])


async def test_an_approval_with_nobody_to_ask_waits_for_an_admin_who_decides_for_the_approvers(platform, gateway):
    item = await catalogue_item(gateway, flow=[{"kind": "approval", "approver": "group", "group": unique("nobody")},
                                               TWO_TASKS])
    async with signed_in(platform, unique("alice"), "requester") as client:
        request = ok(await client.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}), 201)
    [approval] = request["approvals"]
    assert approval["approvers"] == [] and request["state"] == "pending_approval"
    async with signed_in(platform, unique("agent"), "agent") as agent:
        assert ok(await agent.get("/api/v1/approvals"))["items"] == []
        problem(await agent.post(f"/api/v1/approvals/{approval['id']}/approve", json={}), 403)
    assert approval["id"] in {a["id"] for a in ok(await gateway.get("/api/v1/approvals",
                                                                    params={"limit": 200}))["items"]}
    approved = ok(await gateway.post(f"/api/v1/approvals/{approval['id']}/approve", json={"comment": "empty group"}))
    assert approved["state"] == "in_fulfilment" and len(approved["tasks"]) == 2
    assert approved["approvals"][0]["decisions"][0]["as_admin"] is True


async def test_a_work_order_task_moves_alone_with_its_own_events(platform, gateway, infra):
    template = ok(await gateway.post("/api/v1/work-order-templates", json={
        "name": unique("desk move"), "record_type": "request",
        "tasks": [{"name": "move the desk", "assignment_group": "facilities"}]}), 201)
    item = await catalogue_item(gateway, flow=[TWO_TASKS])
    async with signed_in(platform, unique("alice"), "requester") as client:
        request = ok(await client.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}), 201)
    async with signed_in(platform, unique("agent"), "agent") as agent:
        ok(await agent.post(f"/api/v1/requests/{request['id']}/work-orders", json={"template": template["name"]}),
           202)
        [task] = ok(await agent.get("/api/v1/tasks", params={"record_type": "request",
                                                             "record_id": request["id"]}))["items"]
        assert (task["assignment_group"], task["template"], task["request_id"]) == (
            "facilities", template["name"], None)
        problem(await agent.post(f"/api/v1/tasks/{task['id']}/state", json={"state": "done"},
                                 headers={"if-match": f'"{task["version"] + 1}"'}), 412)
        moving = ok(await agent.post(f"/api/v1/tasks/{task['id']}/state", json={"state": "in_progress"},
                                     headers=if_match(task)))
        done = ok(await agent.post(f"/api/v1/tasks/{task['id']}/state", json={"state": "done"},
                                   headers=if_match(moving)))
        assert done["state"] == "done" and done["closed_at"] and done["version"] == task["version"] + 2
        # A template's task is no step of the request's items: the request is as it was.
        assert ok(await agent.get(f"/api/v1/requests/{request['id']}"))["version"] == request["version"]
    events = await request_events(infra, task["id"], "itsm.request.task_completed")
    assert [e.type for e in events] == ["itsm.request.task_assigned", "itsm.request.task_completed"]
    assert events[-1].sequence == done["version"] and events[-1].data["record_type"] == "request"
