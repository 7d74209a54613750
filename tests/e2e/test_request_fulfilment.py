"""Issue 17's done-when for requests, in one story through the gateway against real Kafka and PostgreSQL: a
requester orders a "new laptop" with a form; bad answers get a 422 naming the fields; the manager approves; two
parallel tasks are dispatched to their groups by dispatch rules (one by round robin within its group); when both
are done the request is fulfilled and its SLA timer completed; another requester cannot see the request."""

from __future__ import annotations

import uuid

import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import database_scalar, eventually, ok, problem, read_topic, signed_in

pytestmark = pytest.mark.e2e

FORM = {
    "type": "object",
    "properties": {
        "ram_gb": {"type": "integer", "enum": [16, 32]},
        "keyboard": {"type": "string", "enum": ["us", "de", "fr"]},
        "accessories": {"type": "array", "items": {"type": "string", "enum": ["dock", "bag", "mouse"]}},
    },
    "required": ["ram_gb", "keyboard"],
}


async def test_a_new_laptop_is_approved_dispatched_fulfilled_and_timed(platform, gateway, infra):
    tag = uuid.uuid4().hex[:8]
    alice, bob, erin = f"alice-{tag}", f"bob-{tag}", f"erin-{tag}"  # requester, her manager, another requester
    carol, dave = f"carol-{tag}", f"dave-{tag}"  # the hardware desk
    hardware, identity, laptops = f"hardware-{tag}", f"identity-{tag}", f"Laptops {tag}"

    # The directory (people, a manager, a group's members) as admins keep it; the requests service copies it.
    for username, manager in ((bob, None), (carol, None), (dave, None), (alice, bob)):
        ok(await gateway.post("/api/v1/people", json={"username": username, "name": username, "manager": manager}),
           201)
    ok(await gateway.post("/api/v1/groups", json={"name": hardware, "members": [carol, dave]}), 201)

    async def copied() -> None:
        assert await database_scalar("requests", "SELECT manager FROM people WHERE username = $1", alice) == bob
        assert await database_scalar("requests", "SELECT count(*) FROM group_members WHERE group_name = $1",
                                     hardware) == 2

    await eventually(copied)

    # Dispatch: preparing a laptop goes to the hardware desk, where round robin picks the person; creating the
    # account goes to the identity desk (whose method is none: its people take tasks themselves).
    rule = ok(await gateway.post("/api/v1/dispatch/rules", json={
        "name": f"laptops to hardware {tag}", "record_types": ["task"],
        "conditions": {"category": [laptops], "task": ["prepare the laptop"]}, "assignment_group": hardware}), 201)
    accounts_rule = ok(await gateway.post("/api/v1/dispatch/rules", json={
        "name": f"accounts to identity {tag}", "record_types": ["task"], "conditions": {"task": ["create the account"]},
        "assignment_group": identity}), 201)
    method = await gateway.put(f"/api/v1/dispatch/groups/{hardware}", json={"method": "round_robin"})
    assert method.status_code in (200, 201) and method.json()["members"] == [carol, dave], method.text

    # The catalogue: "new laptop", with a form, the manager's approval, then two tasks in parallel, each for the
    # group the dispatch rules choose.
    category = ok(await gateway.post("/api/v1/catalog/categories", json={"name": laptops}), 201)
    item = ok(await gateway.post("/api/v1/catalog/items", json={
        "name": f"new laptop {tag}", "category_id": category["id"], "short_description": "A laptop for work",
        "form": FORM, "response_target_minutes": 60, "fulfilment_target_minutes": 2880,
        "flow": [{"kind": "approval", "approver": "manager"},
                 {"kind": "tasks", "tasks": [{"name": "prepare the laptop"},
                                             {"name": "create the account"}]}]}), 201)

    async with signed_in(platform, alice, "requester") as requester:
        refused = problem(await requester.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": {"ram_gb": 8, "accessories": ["dock", "cape"]}}]}), 422)
        assert {e["field"] for e in refused["errors"]} == {"ram_gb", "keyboard", "accessories.1"}, refused
        assert ok(await requester.get("/api/v1/requests"))["items"] == []  # nothing written

        request = ok(await requester.post("/api/v1/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": {"ram_gb": 32, "keyboard": "de"}}]}), 201)
    assert request["state"] == "pending_approval"
    [approval] = request["approvals"]
    [ordered] = request["items"]
    assert approval["approvers"] == [bob]

    async with signed_in(platform, bob, "requester") as manager:
        [waiting] = ok(await manager.get("/api/v1/approvals"))["items"]
        assert waiting["id"] == approval["id"]
        approved = ok(await manager.post(f"/api/v1/approvals/{approval['id']}/approve", json={"comment": "ok"}))
    assert approved["state"] == "in_fulfilment"
    tasks = {t["name"]: t for t in approved["tasks"]}
    prepare, account = tasks["prepare the laptop"], tasks["create the account"]
    assert (prepare["assignment_group"], prepare["dispatch_rule"]) == (hardware, rule["name"])
    assert prepare["assignee"] in (carol, dave)  # the group's round robin
    assert (account["assignment_group"], account["dispatch_rule"], account["assignee"]) == (
        identity, accounts_rule["name"], None)
    assert {prepare["state"], account["state"]} == {"open"}

    async with signed_in(platform, carol, "agent") as agent:
        decisions = ok(await agent.get("/api/v1/dispatch/decisions",
                                       params={"record_type": "task", "record_id": prepare["id"]}))["items"]
        assert [(d["dispatch_rule"], d["method"], d["assignee"]) for d in decisions] == [
            (rule["name"], "round_robin", prepare["assignee"])]
        for task in (prepare, account):
            ok(await agent.post(f"/api/v1/tasks/{task['id']}/state", json={"state": "done"}))
        fulfilled = ok(await agent.get(f"/api/v1/requests/{request['id']}"))
        assert fulfilled["state"] == "fulfilled" and fulfilled["items"][0]["state"] == "fulfilled"

        async def timer_completed() -> None:
            timers = ok(await agent.get("/api/v1/sla/timers",
                                        params={"record_type": "request_item", "record_id": ordered["id"]}))["items"]
            fulfilment = [t for t in timers if t["kind"] == "fulfilment"]
            assert [t["stage"] for t in fulfilment] == ["completed"], timers

        await eventually(timer_completed)

    async with signed_in(platform, alice, "requester") as requester:
        steps = ok(await requester.get(f"/api/v1/requests/{request['id']}/activity", params={"limit": 200}))["items"]
        assert any(line["field"] == f"{prepare['number']}.assigned" and rule["name"] in (line["text"] or "")
                   for line in steps), steps  # the timeline says which rule assigned what
    async with signed_in(platform, erin, "requester") as stranger:
        problem(await stranger.get(f"/api/v1/requests/{request['id']}"), 404)
        assert ok(await stranger.get("/api/v1/requests"))["items"] == []

    def closed(records) -> list[CloudEvent]:
        return [e for e in (CloudEvent.from_json(r.value) for r in records)
                if e.subject == request["id"] and e.type == "itsm.request.closed"]

    [event] = closed(await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.REQUESTS, until=closed))
    assert event.data["state"] == "fulfilled" and event.data["items"][0]["item_id"] == ordered["id"]
