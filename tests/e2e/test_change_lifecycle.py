"""The change lifecycle of issue 15 through the gateway, against the real services, PostgreSQL and Kafka:
what authorization needs, standard changes from templates, approval policies (any, all, majority), a rejection
back to new, the change timeline, closing with a result and the lifecycle events."""

from __future__ import annotations

import uuid

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import if_match, ok, problem, database_scalar, read_topic, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
WINDOW = {"planned_start": "2031-06-01T22:00:00Z", "planned_end": "2031-06-01T23:30:00Z"}
PLANS = {"implementation_plan": "run the playbook", "backout_plan": "restore the snapshot", "test_plan": "smoke test"}
READY = {**WINDOW, **PLANS, "affected_cis": ["ci-db-9"]}


def ready() -> dict:
    """What authorization needs, on a CI of its own (changes on one CI in one window would conflict)."""
    return {**READY, "affected_cis": [f"ci-db-{uuid.uuid4().hex[:8]}"]}





async def request(client: httpx.AsyncClient, **fields) -> dict:
    body = {"short_description": f"change {uuid.uuid4().hex[:8]}", "change_type": "normal", **ready(), **fields}
    return ok(await client.post(f"{API}/changes", json=body), 201)


async def move(client: httpx.AsyncClient, change: dict, *states: str) -> dict:
    for state in states:
        change = ok(await client.post(f"{API}/changes/{change['id']}/state", json={"state": state},
                                      headers=if_match(change)))
    return change


async def submitted(client: httpx.AsyncClient, **fields) -> dict:
    change = await request(client, **fields)
    return await move(client, change, *(["authorize"] if change["change_type"] == "emergency"
                                        else ["assess", "authorize"]))


async def decide(client: httpx.AsyncClient, change: dict, decision: str, comment: str | None = None,
                 status: int = 200) -> dict:
    response = await client.post(f"{API}/changes/{change['id']}/approvals",
                                 json={"decision": decision, **({"comment": comment} if comment else {})})
    return ok(response) if status == 200 else problem(response, status)


async def count_changes() -> int:
    return await database_scalar("changes", "SELECT count(*) FROM changes")


@pytest.fixture
async def policies(gateway):
    """Approval policies for normal and emergency changes of any risk, removed afterwards (they are global)."""
    made: list[dict] = []

    async def make(change_type: str, rule: str, approvers: list[str], group_name: str = "CAB") -> dict:
        policy = ok(await gateway.post(f"{API}/change-approval-policies", json={
            "change_type": change_type, "risk": "any", "group_name": group_name, "approvers": approvers,
            "rule": rule}), 201)
        made.append(policy)
        return policy

    yield make
    for policy in made:
        current = await gateway.get(f"{API}/change-approval-policies/{policy['id']}")
        if current.status_code == 200:
            await gateway.delete(f"{API}/change-approval-policies/{policy['id']}", headers=if_match(current.json()))


# -- what authorization needs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("change_type", ["normal", "emergency"])
async def test_authorize_needs_cis_window_and_plans_and_a_422_lists_every_missing_one(gateway, change_type):
    change = ok(await gateway.post(f"{API}/changes", json={"short_description": "upgrade", "change_type": change_type,
                                                           "planned_start": WINDOW["planned_start"],
                                                           "backout_plan": "restore"}), 201)
    if change_type == "normal":
        change = await move(gateway, change, "assess")
    refused = problem(await gateway.post(f"{API}/changes/{change['id']}/state", json={"state": "authorize"},
                                         headers=if_match(change)), 422)
    assert refused["missing"] == ["affected_cis", "planned_end", "implementation_plan", "test_plan"]
    assert ok(await gateway.get(f"{API}/changes/{change['id']}")) == change  # nothing written
    ready = ok(await gateway.patch(f"{API}/changes/{change['id']}", headers=if_match(change), json={
        "affected_cis": ["ci-db-9"], "planned_end": WINDOW["planned_end"], "implementation_plan": "apply",
        "test_plan": "check"}))
    assert (await move(gateway, ready, "authorize"))["state"] == "authorize"


async def test_plans_are_bounded_text(gateway):
    before = await count_changes()
    problem(await gateway.post(f"{API}/changes", json={"short_description": "x", "change_type": "normal",
                                                       "test_plan": "x" * 32_001}), 422)
    problem(await gateway.post(f"{API}/changes", json={"short_description": "x", "change_type": "normal",
                                                       "backout_plan": ""}), 422)
    assert await count_changes() == before
    change = await request(gateway)
    problem(await gateway.patch(f"{API}/changes/{change['id']}", json={"implementation_plan": "x" * 32_001}), 422)


# -- standard changes from templates --------------------------------------------------------------------------

async def test_a_standard_change_comes_from_an_active_template_and_needs_no_approval(platform, gateway):
    async with signed_in(platform, "agent-41", "agent") as agent:
        body = {"name": f"Patch a Linux server {uuid.uuid4().hex[:6]}", "short_description": "Patch a Linux server",
                "description": "monthly patching", "assignment_group": "linux", **PLANS}
        problem(await agent.post(f"{API}/change-templates", json=body), 403)  # admins manage templates
        template = ok(await gateway.post(f"{API}/change-templates", json=body), 201)
        assert (template["active"], template["version"]) == (True, 1)
        assert ok(await agent.get(f"{API}/change-templates/{template['id']}")) == template
        assert template["id"] in [t["id"] for t in ok(await agent.get(f"{API}/change-templates"))["items"]]
        problem(await gateway.post(f"{API}/change-templates", json=body), 409)  # one template per name

        before = await count_changes()
        problem(await agent.post(f"{API}/changes", json={"change_type": "standard", **READY}), 422)
        problem(await agent.post(f"{API}/changes", json={"change_type": "standard", "template_id": "nope", **READY}),
                422)
        assert await count_changes() == before

        change = ok(await agent.post(f"{API}/changes", json={"change_type": "standard", "template_id": template["id"],
                                                             **WINDOW, "affected_cis": ready()["affected_cis"]}),
                201)
        assert (change["short_description"], change["description"], change["assignment_group"]) == (
            "Patch a Linux server", "monthly patching", "linux")
        assert (change["implementation_plan"], change["template_id"]) == (PLANS["implementation_plan"],
                                                                          template["id"])
        scheduled = await move(agent, change, "scheduled")  # pre-authorized: no approval asked
        assert (scheduled["state"], scheduled["approvals"]) == ("scheduled", [])

        # Deactivated (a stale If-Match first: 412, nothing written): no new change from it.
        problem(await gateway.patch(f"{API}/change-templates/{template['id']}", json={"active": False},
                                    headers={"if-match": '"0"'}), 412)
        inactive = ok(await gateway.patch(f"{API}/change-templates/{template['id']}", json={"active": False},
                                          headers=if_match(template)))
        assert (inactive["active"], inactive["version"]) == (False, 2)
        before = await count_changes()
        refused = problem(await agent.post(f"{API}/changes", json={
            "change_type": "standard", "template_id": template["id"], **READY}), 422)
        assert "inactive" in refused["detail"] and await count_changes() == before


# -- approvals by policy --------------------------------------------------------------------------------------

async def test_policies_are_admin_data_one_per_type_and_risk(platform, gateway, policies):
    async with signed_in(platform, "cab-9", "change_manager") as manager:
        body = {"change_type": "normal", "risk": "high", "group_name": "CAB", "approvers": ["cab-9"], "rule": "all"}
        problem(await manager.post(f"{API}/change-approval-policies", json=body), 403)
        problem(await gateway.post(f"{API}/change-approval-policies", json={**body, "change_type": "standard"}), 422)
        problem(await gateway.post(f"{API}/change-approval-policies", json={**body, "approvers": []}), 422)
        policy = await policies("normal", "all", ["cab-9"])
        problem(await gateway.post(f"{API}/change-approval-policies", json={**body, "risk": "any"}), 409)
        assert ok(await manager.get(f"{API}/change-approval-policies/{policy['id']}")) == policy
        problem(await gateway.patch(f"{API}/change-approval-policies/{policy['id']}", json={"rule": "any"},
                                    headers={"if-match": '"7"'}), 412)
        assert ok(await manager.get(f"{API}/change-approval-policies/{policy['id']}")) == policy


async def test_all_needs_every_approver_and_only_listed_change_managers_decide(platform, gateway, policies):
    await policies("normal", "all", ["cab-a", "cab-b"], group_name="Database CAB")
    async with (signed_in(platform, "cab-a", "change_manager") as a,
                signed_in(platform, "cab-b", "change_manager") as b,
                signed_in(platform, "cab-x", "change_manager") as outsider,
                signed_in(platform, "cab-b", "agent") as agent_b):
        change = await submitted(a)
        # Only a change manager's token decides; one not in the group is refused, naming it; neither writes.
        problem(await agent_b.post(f"{API}/changes/{change['id']}/approvals", json={"decision": "approve"}), 403)
        refused = await decide(outsider, change, "approve", status=409)
        assert refused["approval_group"] == "Database CAB" and "Database CAB" in refused["detail"]
        assert ok(await a.get(f"{API}/changes/{change['id']}")) == change

        half = await decide(a, change, "approve", "fine")
        assert half["state"] == "authorize" and [(x["approver"], x["group"]) for x in half["approvals"]] == [
            ("cab-a", "Database CAB")]
        await decide(a, change, "approve", status=409)  # once a round
        done = await decide(b, change, "approve")
        assert done["state"] == "scheduled"


async def test_majority_is_more_than_half_and_any_is_one(platform, gateway, policies):
    policy = await policies("normal", "all", ["m-1", "m-2", "m-3"])
    ok(await gateway.patch(f"{API}/change-approval-policies/{policy['id']}", json={"rule": "majority"},
                           headers=if_match(policy)))
    await policies("emergency", "any", ["ecab-1", "ecab-2"], group_name="ECAB")
    async with (signed_in(platform, "m-1", "change_manager") as m1, signed_in(platform, "m-2", "change_manager") as m2,
                signed_in(platform, "ecab-2", "change_manager") as ecab):
        change = await submitted(m1)
        assert (await decide(m1, change, "approve"))["state"] == "authorize"
        assert (await decide(m2, change, "approve"))["state"] == "scheduled"  # 2 of 3

        emergency = await submitted(ecab, change_type="emergency")
        await decide(m1, emergency, "approve", status=409)  # the emergency group decides emergency changes
        assert (await decide(ecab, emergency, "approve", "by phone"))["state"] == "scheduled"


async def test_a_rejection_returns_to_new_at_once_and_every_decision_is_on_the_timeline(platform, gateway, policies):
    await policies("normal", "all", ["r-1", "r-2"])
    async with signed_in(platform, "r-1", "change_manager") as r1, signed_in(platform, "r-2", "change_manager") as r2:
        change = await submitted(r1)
        await decide(r1, change, "approve")
        await decide(r2, change, "reject", status=422)  # a rejection says why
        rejected = await decide(r2, change, "reject", "no load test")
        assert rejected["state"] == "new" and rejected["approval_round"] == 1
        again = await move(r1, rejected, "assess", "authorize")
        assert again["approval_round"] == 2
        assert (await decide(r1, again, "approve"))["state"] == "authorize"  # round 1's approval is gone
        approved = await decide(r2, again, "approve")
        assert approved["state"] == "scheduled"
        assert [(x["round"], x["approver"], x["decision"]) for x in approved["approvals"]] == [
            (1, "r-1", "approve"), (1, "r-2", "reject"), (2, "r-1", "approve"), (2, "r-2", "approve")]

        activity = ok(await r1.get(f"{API}/changes/{change['id']}/activity", params={"limit": 200}))["items"]
        lines = [(e["actor"], e["field"], e["new_value"]) for e in reversed(activity)]
        assert lines[0] == ("r-1", None, change["number"])  # requested
        assert [line for line in lines if line[1] in ("approval", "state")] == [
            ("r-1", "state", "assess"), ("r-1", "state", "authorize"), ("r-1", "approval", "approve"),
            ("r-2", "approval", "reject"), ("r-2", "state", "new"), ("r-1", "state", "assess"),
            ("r-1", "state", "authorize"), ("r-1", "approval", "approve"), ("r-2", "approval", "approve"),
            ("r-2", "state", "scheduled")]
        reject_line = next(e for e in activity if e["new_value"] == "reject")
        assert reject_line["text"] == "CAB (rule all): no load test"
        problem(await r1.get(f"{API}/changes/{uuid.uuid4()}/activity"), 404)


async def test_field_changes_are_timeline_lines(gateway):
    change = await request(gateway)
    ok(await gateway.patch(f"{API}/changes/{change['id']}", headers=if_match(change),
                           json={"test_plan": "load test", "assignee": "agent-3"}))
    activity = ok(await gateway.get(f"{API}/changes/{change['id']}/activity"))["items"]
    assert {(e["field"], e["old_value"], e["new_value"]) for e in activity[:2]} == {
        ("test_plan", "smoke test", "load test"), ("assignee", None, "agent-3")}


# -- closing with a result ------------------------------------------------------------------------------------

async def test_a_change_closes_from_review_with_a_close_code_and_its_events_reach_kafka(infra, gateway):
    change = await submitted(gateway)
    change = await decide(gateway, change, "approve")
    implementing = await move(gateway, change, "implement")
    assert implementing["implemented_at"] is not None
    close = {"close_code": "backed_out", "close_notes": "restored the snapshot"}
    problem(await gateway.post(f"{API}/changes/{change['id']}/close", json=close), 409)  # not from implement
    review = await move(gateway, implementing, "review")
    refused = problem(await gateway.post(f"{API}/changes/{change['id']}/state", json={"state": "closed"}), 409)
    assert refused["use"] == "close"
    problem(await gateway.post(f"{API}/changes/{change['id']}/close", json={**close, "close_code": "fine"}), 422)
    problem(await gateway.post(f"{API}/changes/{change['id']}/close", json=close, headers={"if-match": '"1"'}), 412)
    assert ok(await gateway.get(f"{API}/changes/{change['id']}")) == review
    closed = ok(await gateway.post(f"{API}/changes/{change['id']}/close", json=close, headers=if_match(review)))
    assert (closed["state"], closed["close_code"], closed["close_notes"]) == ("closed", "backed_out",
                                                                              "restored the snapshot")
    assert closed["closed_at"] is not None and closed["implemented_at"] == implementing["implemented_at"]

    def mine(records) -> list[CloudEvent]:
        return [e for e in map(CloudEvent.from_json, (r.value for r in records)) if e.subject == change["id"]]

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CHANGES,
                               until=lambda rs: any(e.type == "itsm.change.closed" for e in mine(rs)))
    events = {e.type: e for e in mine(records)}
    assert {"itsm.change.assessed", "itsm.change.approved", "itsm.change.scheduled", "itsm.change.implemented",
            "itsm.change.closed"} <= set(events)
    assert events["itsm.change.closed"].data["close_code"] == "backed_out"
    assert events["itsm.change.implemented"].data["affected_cis"] == change["affected_cis"]

    other = await request(gateway)
    ok(await gateway.post(f"{API}/changes/{other['id']}/state", json={"state": "canceled", "reason": "not needed"}))
    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CHANGES,
                               until=lambda rs: any(e.type == "itsm.change.canceled" and e.subject == other["id"]
                                                    for e in map(CloudEvent.from_json, (r.value for r in rs))))
