"""Issue 17: the dispatch rules' decisions (itsm.record.dispatched on itsm.requests) as incidents and problems take
them, through the gateway: an unassigned record gets the decided group and assignee with the rule named on its
timeline; one a person assigned before the decision arrived keeps that person.

The decisions are put on Kafka here as the requests service's relay does, so these tests hold whatever its dispatch
rules would decide (its own tests cover the deciding).
"""

from __future__ import annotations

import uuid

import pytest

from itsm_contracts.events.requests import RecordDispatched
from itsm_kit.clock import utcnow
from tests.helpers import database_scalar, eventually, ok, publishing, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"


@pytest.fixture
async def dispatch(infra):
    """Publish a decision on itsm.requests, keyed (and subject) by the dispatched record, sequence 0."""
    async with publishing(infra["ITSM_KAFKA_BOOTSTRAP"], "itsm/requests") as publish:
        async def send(record_type: str, record_id: str, group: str | None, assignee: str | None, **how) -> str:
            decision = RecordDispatched(record_type=record_type, record_id=record_id, assignment_group=group,
                                        assignee=assignee, decided_at=utcnow(), **how)
            return (await publish(decision, subject=record_id)).id

        yield send


@pytest.fixture
async def agent(platform):
    async with signed_in(platform, f"agent-{uuid.uuid4().hex[:8]}", "agent") as client:
        yield client


async def open_incident(agent, **fields) -> dict:
    # A category no dispatch rule of another test names: only the decisions published here assign it.
    body = {"short_description": f"VPN drops {uuid.uuid4().hex[:8]}", "category": f"c-{uuid.uuid4().hex[:8]}"}
    return ok(await agent.post(f"{API}/incidents", json=body | fields), 201)


async def until(agent, path: str, holds) -> dict:
    async def probe():
        found = ok(await agent.get(path))
        assert holds(found), found
        return found
    return await eventually(probe)


async def work_notes(agent, path: str) -> list[tuple[str, str]]:
    items = ok(await agent.get(f"{path}/activity"))["items"]
    return [(a["text"], a["actor"]) for a in items if a["kind"] == "work_note"]


async def test_an_unassigned_incident_gets_the_dispatched_group_and_assignee_with_the_rule_on_its_timeline(
        agent, dispatch):
    opened = await open_incident(agent)
    path = f"{API}/incidents/{opened['id']}"
    await dispatch("incident", opened["id"], "NetOps", "alice", dispatch_rule="Network to NetOps",
                   dispatch_rule_version=3, method="round_robin")

    assigned = await until(agent, path, lambda i: i["assignee"] == "alice")
    assert assigned["assignment_group"] == "NetOps"
    assert ("Assigned to NetOps (alice) by dispatch rule 'Network to NetOps' (version 3); assignee by round robin.",
            "dispatch") in await work_notes(agent, path)
    lines = ok(await agent.get(f"{path}/activity"))["items"]
    assert {(a["field"], a["new_value"], a["actor"]) for a in lines if a["kind"] == "field"} >= {
        ("assignment_group", "NetOps", "dispatch"), ("assignee", "alice", "dispatch")}


async def handled(event_id: str) -> None:
    """Wait until the incidents service has handled the event (its inbox row: what a redelivery is checked against)."""
    async def probe():
        outcome = await database_scalar("incidents", "SELECT outcome FROM inbox WHERE event_id = $1", event_id)
        assert outcome == "handled"
    await eventually(probe)


async def test_an_incident_a_person_assigned_before_the_decision_arrived_keeps_that_person(agent, dispatch):
    opened = await open_incident(agent)
    path = f"{API}/incidents/{opened['id']}"
    ok(await agent.patch(path, json={"assignment_group": "ServiceDesk", "assignee": "bob"}))
    await handled(await dispatch("incident", opened["id"], "NetOps", "alice", dispatch_rule="Network to NetOps",
                                 dispatch_rule_version=3, method="round_robin"))

    kept = ok(await agent.get(path))
    assert (kept["assignment_group"], kept["assignee"]) == ("ServiceDesk", "bob")
    assert not [text for text, actor in await work_notes(agent, path) if actor == "dispatch"]


async def test_an_incident_a_person_gave_the_decisions_group_takes_only_the_assignee(agent, dispatch):
    opened = await open_incident(agent, assignment_group="NetOps")
    path = f"{API}/incidents/{opened['id']}"
    await dispatch("incident", opened["id"], "NetOps", "alice", dispatch_rule="Network to NetOps",
                   dispatch_rule_version=3, method="round_robin")
    assert (await until(agent, path, lambda i: i["assignee"] == "alice"))["assignment_group"] == "NetOps"


async def test_an_unassigned_problem_gets_the_dispatched_group_and_assignee(agent, dispatch):
    opened = ok(await agent.post(f"{API}/problems", json={
        "short_description": f"VPN concentrator {uuid.uuid4().hex[:8]}", "impact": 2, "urgency": 2}), 201)
    path = f"{API}/problems/{opened['id']}"
    await dispatch("problem", opened["id"], "NetOps", "carol", dispatch_rule="Network problems",
                   dispatch_rule_version=1, method="least_loaded")

    assigned = await until(agent, path, lambda p: p["assignee"] == "carol")
    assert assigned["assignment_group"] == "NetOps"
    assert ("Assigned to NetOps (carol) by dispatch rule 'Network problems' (version 1); assignee by least loaded.",
            "dispatch") in await work_notes(agent, path)
