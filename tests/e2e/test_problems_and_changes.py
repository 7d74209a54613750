"""Problems and change requests through the gateway, against the real services, PostgreSQL and Kafka.

What a frontend does first: open a problem, request a change, read them back, page through the
lists; and what it must be told plainly: a bad body, an unknown id, a missing token. Then the work
itself (issue 13): a change walked to approval by a change manager and on to closed, a problem worked
to closed, their lists filtered, and their events on Kafka.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import database_scalar, read_topic, token

pytestmark = pytest.mark.e2e

API = "/api/v1"
# resource (also its service and table): a valid body, its numbers' prefix
KINDS = {
    "problems": ({"short_description": "checkout slow after deploys", "impact": 2, "urgency": 1}, "PRB"),
    "changes": ({"short_description": "roll back checkout to 1.41", "change_type": "normal",
                 "planned_start": "2031-03-01T22:00:00Z", "planned_end": "2031-03-01T23:00:00Z"}, "CHG"),
}


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    return body


async def rows(kind: str) -> int:
    return await database_scalar(kind, f"SELECT count(*) FROM {kind}")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_record_is_created_and_read_back(gateway, kind):
    body, prefix = KINDS[kind]
    tag = uuid.uuid4().hex[:8]
    named = {**body, "short_description": f"{body['short_description']} {tag}"}
    created = await gateway.post(f"{API}/{kind}", json=named)
    assert created.status_code == 201, created.text
    record = created.json()
    assert re.fullmatch(rf"{prefix}\d+", record["number"]) and record["state"] == "new"
    assert record["short_description"].endswith(tag)
    assert created.headers["location"] == f"{API}/{kind}/{record['id']}"
    assert created.headers["etag"] == f'"{record["version"]}"'

    read = await gateway.get(created.headers["location"])
    assert read.status_code == 200, read.text
    assert read.json() == record
    assert read.headers["etag"] == f'"{record["version"]}"'


async def test_a_change_keeps_its_type_and_planned_window(gateway):
    body, _ = KINDS["changes"]
    created = (await gateway.post(f"{API}/changes", json=body)).json()
    assert created["change_type"] == "normal"
    assert created["planned_start"].startswith("2031-03-01T22:00:00")
    assert created["planned_end"].startswith("2031-03-01T23:00:00")


@pytest.mark.parametrize("kind", KINDS)
async def test_lists_page_through_with_the_cursor(gateway, kind):
    body, _ = KINDS[kind]
    opened = []
    for n in range(3):
        response = await gateway.post(f"{API}/{kind}", json={**body, "short_description": f"paged {n}"})
        assert response.status_code == 201, response.text
        opened.append(response.json()["id"])

    first = await gateway.get(f"{API}/{kind}", params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [r["id"] for r in page["items"]] == opened[:0:-1], "newest first"
    assert page["next_cursor"]

    second = await gateway.get(f"{API}/{kind}", params={"limit": 2, "cursor": page["next_cursor"]})
    assert second.status_code == 200, second.text
    assert second.json()["items"][0]["id"] == opened[0], "the next page goes on where the first stopped"
    assert not {r["id"] for r in second.json()["items"]} & {r["id"] for r in page["items"]}


@pytest.mark.parametrize(("kind", "bad"), [
    ("problems", {"short_description": "", "impact": 2}),
    ("problems", {"short_description": "x", "impact": 9}),
    ("changes", {"short_description": "no type"}),
    ("changes", {"short_description": "x", "change_type": "whenever"}),
    # Checked by the changes service itself: its 422 comes back as it is.
    ("changes", {"short_description": "ends before it starts", "change_type": "normal",
                 "planned_start": "2031-03-01T23:00:00Z", "planned_end": "2031-03-01T22:00:00Z"}),
])
async def test_a_bad_body_is_a_422_problem_and_writes_nothing(gateway, kind, bad):
    before = await rows(kind)
    problem(await gateway.post(f"{API}/{kind}", json=bad), 422)
    assert await rows(kind) == before


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unknown_id_is_a_404_problem(gateway, kind):
    problem(await gateway.get(f"{API}/{kind}/{uuid.uuid4()}"), 404)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_malformed_id_or_limit_is_a_422_problem(gateway, kind):
    problem(await gateway.get(f"{API}/{kind}/not an id!"), 422)
    problem(await gateway.get(f"{API}/{kind}", params={"limit": 0}), 422)


@pytest.mark.parametrize("kind", KINDS)
async def test_no_token_is_a_401_and_writes_nothing(platform, kind):
    body, _ = KINDS[kind]
    before = await rows(kind)
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30) as anonymous:
        problem(await anonymous.get(f"{API}/{kind}"), 401)
        problem(await anonymous.post(f"{API}/{kind}", json=body), 401)
        problem(await anonymous.get(f"{API}/{kind}/{uuid.uuid4()}"), 401)
        refused = await anonymous.post(f"{API}/{kind}", json=body,
                                       headers={"authorization": f"Bearer {token()}x"})
        problem(refused, 401)
    assert await rows(kind) == before


# -- issue 13: problems and changes worked end to end ---------------------------------------------------------------

WINDOW = {"planned_start": "2031-04-01T22:00:00Z", "planned_end": "2031-04-01T23:30:00Z"}


@pytest.fixture
async def as_role(platform):
    """A gateway client signed in as `subject` holding `roles`."""
    clients = []

    async def make(subject: str, *roles: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30,
                                   headers={"authorization": f"Bearer {token(subject, roles=list(roles))}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert response.headers["etag"] == f'"{body["version"]}"'
    return body


def if_match(record: dict) -> dict:
    return {"if-match": f'"{record["version"]}"'}


# Issue 15: authorization (and scheduling a standard change) needs affected CIs, a window and these plans.
PLANS = {"implementation_plan": "run the playbook", "backout_plan": "restore the snapshot", "test_plan": "smoke test"}


async def request_change(client: httpx.AsyncClient, **fields) -> dict:
    body = {"short_description": f"change {uuid.uuid4().hex[:8]}", "change_type": "normal", **WINDOW,
            "affected_cis": [f"ci-app-{uuid.uuid4().hex[:8]}"], **PLANS, **fields}
    if body["change_type"] == "standard" and "template_id" not in body:  # issue 15: requested from a template
        body["template_id"] = ok(await client.post(f"{API}/change-templates", json={
            "name": f"template {uuid.uuid4().hex[:8]}", "short_description": "a standard change", **PLANS}), 201)["id"]
    return ok(await client.post(f"{API}/changes", json=body), 201)


async def move(client: httpx.AsyncClient, kind: str, record: dict, state: str, **extra) -> dict:
    return ok(await client.post(f"{API}/{kind}/{record['id']}/state", json={"state": state, **extra},
                                headers=if_match(record)))


def types_for(records, subject: str) -> list[str]:
    return [e.type for e in map(CloudEvent.from_json, (r.value for r in records)) if e.subject == subject]


async def test_a_normal_change_is_rejected_reworked_approved_and_walked_to_closed(infra, as_role):
    agent = await as_role("agent-7", "agent")
    manager = await as_role("cab-chair", "change_manager")
    change = await request_change(agent, assignment_group="dba", affected_cis=["ci-db-1", "ci-db-2", "ci-db-1"])
    assert (change["requested_by"], change["assignment_group"], change["assignee"]) == ("agent-7", "dba", None)
    assert (change["affected_cis"], change["approvals"]) == (["ci-db-1", "ci-db-2"], [])

    change = await move(agent, "changes", change, "assess")
    change = await move(agent, "changes", change, "authorize")  # submitted for approval
    assert change["state"] == "authorize"

    # An agent does not decide; the refusal changes nothing.
    problem(await agent.post(f"{API}/changes/{change['id']}/approvals", json={"decision": "approve"}), 403)
    # Nor does a move take it past authorization.
    refused = problem(await manager.post(f"{API}/changes/{change['id']}/state", json={"state": "scheduled"},
                                         headers=if_match(change)), 409)
    assert refused["allowed_states"] == ["canceled", "new"] and "approval" in refused["detail"]
    # A rejection must say why.
    problem(await manager.post(f"{API}/changes/{change['id']}/approvals", json={"decision": "reject"}), 422)
    assert ok(await agent.get(f"{API}/changes/{change['id']}")) == change

    rejected = ok(await manager.post(f"{API}/changes/{change['id']}/approvals", headers=if_match(change),
                                     json={"decision": "reject", "comment": "no rollback plan"}))
    assert rejected["state"] == "new" and rejected["version"] == change["version"] + 2
    [decision] = rejected["approvals"]
    assert (decision["approver"], decision["decision"], decision["comment"]) == ("cab-chair", "reject",
                                                                                 "no rollback plan")

    reworked = ok(await agent.patch(f"{API}/changes/{change['id']}", headers=if_match(rejected),
                                    json={"description": "rollback: restore the 02:00 snapshot"}))
    for state in ("assess", "authorize"):
        reworked = await move(agent, "changes", reworked, state)
    approved = ok(await manager.post(f"{API}/changes/{change['id']}/approvals", json={"decision": "approve"}))
    assert approved["state"] == "scheduled"
    assert [(a["decision"], a["approver"]) for a in approved["approvals"]] == [("reject", "cab-chair"),
                                                                            ("approve", "cab-chair")]
    # Deciding again: nothing awaits a decision any more.
    problem(await manager.post(f"{API}/changes/{change['id']}/approvals", json={"decision": "approve"}), 409)

    closed = approved
    for state in ("implement", "review"):
        closed = await move(agent, "changes", closed, state)
    closed = ok(await agent.post(f"{API}/changes/{change['id']}/close", headers=if_match(closed),
                                 json={"close_code": "successful", "close_notes": "done"}))  # issue 15: a command
    assert closed["state"] == "closed"
    assert ok(await agent.get(f"{API}/changes/{change['id']}")) == closed

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CHANGES,
                               until=lambda rs: types_for(rs, change["id"]).count("itsm.change.state_changed") == 9)
    moved = "itsm.change.state_changed"
    assert types_for(records, change["id"]) == [
        "itsm.change.requested", moved, moved, "itsm.change.assessed", "itsm.change.rejected", moved,
        "itsm.change.updated", moved, moved, "itsm.change.assessed", "itsm.change.approved", moved,
        "itsm.change.scheduled", moved, "itsm.change.implemented", moved, moved, "itsm.change.closed"]
    events = [e for e in map(CloudEvent.from_json, (r.value for r in records)) if e.subject == change["id"]]
    assert [e.sequence for e in events] == list(range(1, closed["version"] + 1))
    assert events[4].data["comment"] == "no rollback plan" and events[4].data["actor"] == "cab-chair"


async def test_a_standard_change_is_scheduled_without_approval_and_an_emergency_one_needs_it(gateway):
    standard = await request_change(gateway, change_type="standard")
    assert (await move(gateway, "changes", standard, "scheduled"))["approvals"] == []
    emergency = await request_change(gateway, change_type="emergency")
    emergency = await move(gateway, "changes", emergency, "authorize")
    problem(await gateway.post(f"{API}/changes/{emergency['id']}/state", json={"state": "scheduled"}), 409)
    approved = ok(await gateway.post(f"{API}/changes/{emergency['id']}/approvals",
                                     json={"decision": "approve", "comment": "ECAB by phone"}))
    assert (approved["state"], approved["approvals"][0]["comment"]) == ("scheduled", "ECAB by phone")


async def test_an_illegal_move_is_a_409_naming_the_allowed_states_and_changes_nothing(gateway):
    change = await request_change(gateway)
    refused = problem(await gateway.post(f"{API}/changes/{change['id']}/state", json={"state": "implement"}), 409)
    assert refused["allowed_states"] == ["assess", "canceled"] and refused["current_state"] == "new"
    assert "assess, canceled" in refused["detail"]
    # An approval out of authorize is a conflict too.
    problem(await gateway.post(f"{API}/changes/{change['id']}/approvals", json={"decision": "approve"}), 409)
    assert ok(await gateway.get(f"{API}/changes/{change['id']}")) == change


async def test_a_stale_if_match_is_a_412_and_changes_nothing(gateway):
    change = await request_change(gateway)
    edited = ok(await gateway.patch(f"{API}/changes/{change['id']}", json={"assignee": "agent-1"},
                                    headers=if_match(change)))
    assert edited["version"] == change["version"] + 1
    for method, path, body in [("PATCH", "", {"assignee": "agent-2"}), ("POST", "/state", {"state": "assess"})]:
        stale = problem(await gateway.request(method, f"{API}/changes/{change['id']}{path}", json=body,
                                              headers=if_match(change)), 412)
        assert stale["current_version"] == edited["version"]
    assert ok(await gateway.get(f"{API}/changes/{change['id']}")) == edited


@pytest.mark.parametrize(("path", "body"), [
    ("", {}),  # nothing to change
    ("", {"state": "closed"}),  # not a field a PATCH sets
    ("", {"affected_cis": ["ok", "not/a ci"]}),
    ("", {"affected_cis": [f"ci-{n}" for n in range(101)]}),
    ("", {"assignee": ""}),
    ("", {"planned_end": "2031-04-01T21:00:00Z"}),  # before the planned start (the service's own check)
    ("", {"planned_start": "2031-04-01T22:00:00"}),  # no timezone
    ("", {"description": None}),
    ("/state", {"state": "done"}),
    ("/state", {"state": "assess", "reason": "x" * 4001}),
    ("/approvals", {"decision": "maybe"}),
    ("/approvals", {"decision": "reject", "comment": "  "}),
])
async def test_bad_change_input_is_a_422_problem_and_changes_nothing(gateway, path, body):
    change = await request_change(gateway)
    problem(await gateway.request("PATCH" if not path else "POST", f"{API}/changes/{change['id']}{path}", json=body),
            422)
    assert ok(await gateway.get(f"{API}/changes/{change['id']}")) == change


async def test_change_lists_filter_by_state_assignment_ci_and_planned_start(gateway):
    tag = uuid.uuid4().hex[:8]
    group, ci = f"net-{tag}", f"ci-{tag}"
    early = await request_change(gateway, assignment_group=group, affected_cis=[ci, "ci-other"],
                                 planned_start="2031-05-01T00:00:00Z", planned_end="2031-05-01T01:00:00Z")
    late = await request_change(gateway, assignment_group=group, assignee=f"agent-{tag}", change_type="standard",
                                planned_start="2031-05-02T00:00:00Z", planned_end="2031-05-02T01:00:00Z")
    late = await move(gateway, "changes", late, "scheduled")
    unrelated = await request_change(gateway, affected_cis=["ci-other"])

    async def ids(**params) -> list[str]:
        response = await gateway.get(f"{API}/changes", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await ids(assignment_group=group) == [late["id"], early["id"]]
    assert await ids(assignee=f"agent-{tag}") == [late["id"]]
    assert await ids(affected_ci=ci) == [early["id"]]
    assert unrelated["id"] in await ids(affected_ci="ci-other")
    assert await ids(affected_ci=f"db-{tag}.example.com") == []  # a CI name (as incidents may hold) finds no id
    assert await ids(assignment_group=group, state=["scheduled"]) == [late["id"]]
    assert await ids(assignment_group=group, state=["new", "scheduled"]) == [late["id"], early["id"]]
    # The planned start range includes `from` and excludes `before`.
    assert await ids(assignment_group=group, planned_start_from="2031-05-01T00:00:00Z",
                     planned_start_before="2031-05-02T00:00:00Z") == [early["id"]]
    assert await ids(assignment_group=group, planned_start_from="2031-05-01T00:00:01Z") == [late["id"]]
    # Moved to another window, it is found there.
    moved = ok(await gateway.patch(f"{API}/changes/{early['id']}", headers=if_match(early), json={
        "planned_start": "2031-05-03T00:00:00Z", "planned_end": "2031-05-03T02:00:00Z"}))
    assert moved["planned_start"].startswith("2031-05-03T00:00:00") and moved["version"] == early["version"] + 1
    assert await ids(assignment_group=group, planned_start_from="2031-05-02T12:00:00Z") == [early["id"]]
    for bad in ({"state": "done"}, {"planned_start_from": "tomorrow"}, {"affected_ci": "x" * 256}, {"limit": 201}):
        problem(await gateway.get(f"{API}/changes", params=bad), 422)


async def test_a_problem_is_worked_to_closed_and_its_events_reach_kafka(infra, as_role):
    agent = await as_role("agent-5", "agent")
    incident_id = str(uuid.uuid4())
    opened = ok(await agent.post(f"{API}/problems", json={
        "short_description": "checkout pods OOM weekly", "impact": 2, "urgency": 2, "assignment_group": "sre",
        "related_incidents": [incident_id]}), 201)
    assert (opened["opened_by"], opened["assignment_group"], opened["related_incidents"]) == (
        "agent-5", "sre", [incident_id])

    second = str(uuid.uuid4())
    edited = ok(await agent.patch(f"{API}/problems/{opened['id']}", headers=if_match(opened), json={
        "assignee": "agent-5", "impact": 1, "related_incidents": [incident_id, second]}))
    assert (edited["assignee"], edited["priority"], edited["related_incidents"]) == ("agent-5", 2,
                                                                                    [incident_id, second])
    worked = edited
    for state in ("assess", "root_cause_analysis", "fix_in_progress"):
        worked = await move(agent, "problems", worked, state)
    # Resolved and closed come with their own commands (issue 14), each also a state change.
    worked = ok(await agent.post(f"{API}/problems/{opened['id']}/resolve", headers=if_match(worked),
                                 json={"resolution_code": "risk_accepted", "notes": "restarts are cheap"}))
    worked = ok(await agent.post(f"{API}/problems/{opened['id']}/close", headers=if_match(worked)))
    assert worked["state"] == "closed" and worked["version"] == 11
    assert ok(await agent.get(f"{API}/problems/{opened['id']}")) == worked

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.PROBLEMS,
                               until=lambda rs: len(types_for(rs, opened["id"])) == 11)
    moved, linked = "itsm.problem.state_changed", "itsm.problem.incident_linked"
    # The incident it opened with and the one the edit added are each linked with an event the incidents hear.
    assert types_for(records, opened["id"]) == ["itsm.problem.opened", linked, "itsm.problem.updated", linked,
                                                moved, moved, moved, "itsm.problem.resolved", moved,
                                                "itsm.problem.closed", moved]
    updated = next(e for e in map(CloudEvent.from_json, (r.value for r in records))
                   if e.subject == opened["id"] and e.type == "itsm.problem.updated")
    assert updated.data["changes"] == {"assignee": "agent-5", "impact": 1, "priority": 2,
                                       "related_incidents": [incident_id, second]}
    assert updated.data["actor"] == "agent-5"


async def test_problem_lists_filter_by_incident_state_and_assignment(gateway):
    tag = uuid.uuid4().hex[:8]
    incident, group = str(uuid.uuid4()), f"sre-{tag}"
    first = ok(await gateway.post(f"{API}/problems", json={"short_description": "a", "related_incidents": [incident],
                                                           "assignment_group": group}), 201)
    second = ok(await gateway.post(f"{API}/problems", json={"short_description": "b", "assignment_group": group,
                                                            "assignee": f"agent-{tag}"}), 201)
    second = await move(gateway, "problems", second, "assess")

    async def ids(**params) -> list[str]:
        response = await gateway.get(f"{API}/problems", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert await ids(incident_id=incident) == [first["id"]]
    assert await ids(assignment_group=group) == [second["id"], first["id"]]
    assert await ids(assignment_group=group, state=["assess"]) == [second["id"]]
    assert await ids(assignee=f"agent-{tag}") == [second["id"]]
    # Linked later, found by the incident too.
    ok(await gateway.patch(f"{API}/problems/{second['id']}", json={"related_incidents": [incident]}))
    assert await ids(incident_id=incident) == [second["id"], first["id"]]
    for bad in ({"state": "open"}, {"incident_id": "a/b"}):
        problem(await gateway.get(f"{API}/problems", params=bad), 422)


async def test_problem_conflicts_stale_versions_and_bad_input_change_nothing(gateway, as_role):
    opened = ok(await gateway.post(f"{API}/problems", json={"short_description": "disk fills on db-01"}), 201)
    url = f"{API}/problems/{opened['id']}"
    refused = problem(await gateway.post(f"{url}/state", json={"state": "resolved"}), 409)
    assert refused["allowed_states"] == ["assess", "canceled"] and refused["current_state"] == "new"
    assert refused["use"] == "resolve" and "/resolve" in refused["detail"]  # resolved comes with POST .../resolve
    for bad in ({}, {"impact": 4}, {"related_incidents": ["x y"]}, {"related_incidents": None},
                {"short_description": ""}, {"priority": 1}):
        problem(await gateway.patch(url, json=bad), 422)
    problem(await gateway.post(f"{url}/state", json={"state": "open"}), 422)
    assert ok(await gateway.get(url)) == opened

    moved = await move(gateway, "problems", opened, "assess")
    stale = problem(await gateway.patch(url, json={"assignee": "x"}, headers=if_match(opened)), 412)
    assert stale["current_version"] == moved["version"]
    problem(await gateway.post(f"{url}/state", json={"state": "closed"}, headers=if_match(opened)), 412)
    requester = await as_role("req-1", "requester")
    problem(await requester.patch(url, json={"assignee": "x"}), 403)
    assert ok(await gateway.get(url)) == moved
