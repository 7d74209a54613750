"""Problem management through the gateway (issue 14, first slice), against the real services, PostgreSQL and Kafka.

An agent walks a problem from new through its root cause to a fix, resolves it and closes it; links and unlinks
incidents (each a command with its event on Kafka); comments and work notes land on its timeline. Illegal moves are
409s, bad input 422s and stale versions 412s, and none of them writes anything. Requesters see no problem at all.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import database_scalar, read_topic, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
MOVED = "itsm.problem.state_changed"


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert response.headers["etag"] == f'"{body["version"]}"'
    return body


def refused(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def if_match(record: dict) -> dict:
    return {"if-match": f'"{record["version"]}"'}


def events_of(records, subject: str) -> list[CloudEvent]:
    return [e for e in map(CloudEvent.from_json, (r.value for r in records)) if e.subject == subject]


@pytest.fixture
async def agent(platform):
    async with signed_in(platform, "agent-14", "agent") as client:
        yield client


async def open_problem(client: httpx.AsyncClient, **fields) -> dict:
    body = {"short_description": f"checkout OOM {uuid.uuid4().hex[:8]}", "impact": 2, "urgency": 2, **fields}
    return ok(await client.post(f"{API}/problems", json=body), 201)


async def move(client: httpx.AsyncClient, record: dict, state: str) -> dict:
    return ok(await client.post(f"{API}/problems/{record['id']}/state", json={"state": state},
                                headers=if_match(record)))


async def timeline_rows(problem_id: str) -> int:
    return await database_scalar("problems", "SELECT count(*) FROM problem_activity WHERE problem_id = $1",
                                 problem_id)


async def test_a_problem_is_walked_from_new_through_its_root_cause_to_resolved_and_closed(infra, agent):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    opened = await open_problem(agent, related_incidents=[first, second])
    url = f"{API}/problems/{opened['id']}"
    worked = await move(agent, opened, "assess")
    worked = await move(agent, worked, "root_cause_analysis")
    worked = ok(await agent.post(f"{url}/root-cause", headers=if_match(worked), json={
        "description": "the session cache has no bound and grows until the pod is killed",
        "cause_code": "software"}))
    assert (worked["cause_code"], worked["state"]) == ("software", "root_cause_analysis")
    assert worked["root_cause"].startswith("the session cache has no bound")
    change_id = str(uuid.uuid4())
    worked = ok(await agent.patch(url, headers=if_match(worked), json={"fix_change_id": change_id}))
    assert worked["fix_change_id"] == change_id
    worked = await move(agent, worked, "fix_in_progress")
    # Resolved and closed come only with their commands, which say so.
    told = refused(await agent.post(f"{url}/state", json={"state": "resolved"}), 409)
    assert told["use"] == "resolve" and told["allowed_states"] == ["canceled", "root_cause_analysis"]
    resolved = ok(await agent.post(f"{url}/resolve", headers=if_match(worked), json={
        "resolution_code": "fix_applied", "notes": "cache bounded in 1.42", "resolve_linked_incidents": True}))
    assert (resolved["state"], resolved["resolution_code"], resolved["resolution_notes"]) == (
        "resolved", "fix_applied", "cache bounded in 1.42")
    assert resolved["resolved_at"] and resolved["version"] == worked["version"] + 2
    told = refused(await agent.post(f"{url}/state", json={"state": "closed"}), 409)
    assert told["use"] == "close"
    closed = ok(await agent.post(f"{url}/close", headers=if_match(resolved)))
    assert closed["state"] == "closed" and closed["closed_at"]
    assert ok(await agent.get(url)) == closed
    refused(await agent.post(f"{url}/state", json={"state": "assess"}), 409)  # closed is final

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.PROBLEMS,
                               until=lambda rs: len(events_of(rs, opened["id"])) == closed["version"])
    events = events_of(records, opened["id"])
    assert [e.type for e in events] == [
        "itsm.problem.opened", "itsm.problem.incident_linked", "itsm.problem.incident_linked", MOVED, MOVED,
        "itsm.problem.root_cause_identified", "itsm.problem.updated", MOVED,
        "itsm.problem.resolved", MOVED, "itsm.problem.closed", MOVED]
    assert [e.sequence for e in events] == list(range(1, closed["version"] + 1))
    cause = events[5].data
    assert (cause["cause_code"], cause["actor"]) == ("software", "agent-14")
    resolution = events[8].data
    # What the incidents service needs to resolve the linked incidents itself, later.
    assert (resolution["resolution_code"], resolution["notes"], resolution["resolve_linked_incidents"],
            resolution["incident_ids"]) == ("fix_applied", "cache bounded in 1.42", True, [first, second])


async def test_canceling_is_a_move_from_any_state_before_resolved(agent):
    opened = await open_problem(agent)
    assessed = await move(agent, opened, "assess")
    canceled = await move(agent, assessed, "canceled")
    assert canceled["state"] == "canceled"
    told = refused(await agent.post(f"{API}/problems/{opened['id']}/state", json={"state": "assess"}), 409)
    assert told["allowed_states"] == [] and told["current_state"] == "canceled"
    refused(await agent.post(f"{API}/problems/{opened['id']}/incidents", json={"incident_id": "i-1"}), 409)
    assert ok(await agent.get(f"{API}/problems/{opened['id']}")) == canceled


async def test_illegal_moves_and_commands_are_409s_that_change_nothing(agent):
    opened = await open_problem(agent)
    url = f"{API}/problems/{opened['id']}"
    before = await timeline_rows(opened["id"])
    # No root cause in new; no skipping analysis; nothing to close before it is resolved.
    told = refused(await agent.post(f"{url}/root-cause", json={"description": "x", "cause_code": "unknown"}), 409)
    assert told["current_state"] == "new"
    refused(await agent.post(f"{url}/state", json={"state": "fix_in_progress"}), 409)
    told = refused(await agent.post(f"{url}/close"), 409)
    assert told["allowed_states"] == ["assess", "canceled", "resolved"]
    assert ok(await agent.get(url)) == opened
    assert await timeline_rows(opened["id"]) == before


@pytest.mark.parametrize(("path", "body"), [
    ("/root-cause", {"description": "", "cause_code": "software"}),
    ("/root-cause", {"description": "x" * 32_001, "cause_code": "software"}),
    ("/root-cause", {"description": "leak", "cause_code": "cosmic_rays"}),
    ("/resolve", {"resolution_code": "fixed", "notes": "x"}),
    ("/resolve", {"resolution_code": "risk_accepted", "notes": ""}),
    ("/resolve", {"resolution_code": "risk_accepted", "notes": "x" * 4_001}),
    ("/resolve", {"resolution_code": "fix_applied", "notes": "no root cause yet"}),  # the service's own rule
    ("/incidents", {"incident_id": "not/an id"}),
    ("/incidents", {}),
    ("/comments", {"text": ""}),
    ("/work-notes", {"text": "x" * 32_001}),
    ("", {"fix_change_id": "a b"}),
])
async def test_bad_input_is_a_422_problem_and_writes_nothing(agent, path, body):
    opened = await open_problem(agent)
    worked = await move(agent, await move(agent, opened, "assess"), "root_cause_analysis")
    url = f"{API}/problems/{opened['id']}"
    before = await timeline_rows(opened["id"])
    refused(await agent.request("PATCH" if not path else "POST", f"{url}{path}", json=body), 422)
    assert ok(await agent.get(url)) == worked
    assert await timeline_rows(opened["id"]) == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/root-cause", {"description": "leak", "cause_code": "software"}),
    ("POST", "/resolve", {"resolution_code": "duplicate", "notes": "see PRB0001001"}),
    ("POST", "/incidents", {"incident_id": "inc-412"}),
    ("DELETE", "/incidents/inc-1", None),
    ("POST", "/state", {"state": "canceled"}),
])
async def test_a_stale_if_match_is_a_412_and_changes_nothing(agent, method, path, body):
    opened = await open_problem(agent, related_incidents=["inc-1"])
    moved = await move(agent, opened, "assess")
    url = f"{API}/problems/{opened['id']}"
    stale = refused(await agent.request(method, f"{url}{path}", json=body, headers=if_match(opened)), 412)
    assert stale["current_version"] == moved["version"]
    assert ok(await agent.get(url)) == moved


async def test_links_and_unlinks_are_idempotent_commands_with_their_events_on_kafka(infra, agent):
    opened = await open_problem(agent)
    url = f"{API}/problems/{opened['id']}"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    linked = ok(await agent.post(f"{url}/incidents", json={"incident_id": first}, headers=if_match(opened)))
    assert linked["related_incidents"] == [first] and linked["version"] == opened["version"] + 1
    again = ok(await agent.post(f"{url}/incidents", json={"incident_id": first}))
    assert again == linked, "linking twice: no new version"
    linked = ok(await agent.post(f"{url}/incidents", json={"incident_id": second}))
    unlinked = ok(await agent.delete(f"{url}/incidents/{first}", headers=if_match(linked)))
    assert unlinked["related_incidents"] == [second]
    assert ok(await agent.delete(f"{url}/incidents/{first}")) == unlinked, "unlinking twice: no new version"
    # The list finds the problem by the incident still linked, not by the one unlinked.
    listed = (await agent.get(f"{API}/problems", params={"incident_id": second})).json()["items"]
    assert [p["id"] for p in listed] == [opened["id"]]
    assert (await agent.get(f"{API}/problems", params={"incident_id": first})).json()["items"] == []

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.PROBLEMS,
                               until=lambda rs: len(events_of(rs, opened["id"])) == unlinked["version"])
    events = events_of(records, opened["id"])
    assert [e.type for e in events] == ["itsm.problem.opened", "itsm.problem.incident_linked",
                                        "itsm.problem.incident_linked", "itsm.problem.incident_unlinked"]
    link = events[1].data
    assert (link["problem_id"], link["incident_id"], link["actor"]) == (opened["id"], first, "agent-14")
    assert link["at"] and events[3].data["incident_id"] == first


async def test_links_are_bounded(agent):
    opened = await open_problem(agent, related_incidents=[f"inc-{n}" for n in range(200)])
    url = f"{API}/problems/{opened['id']}"
    told = refused(await agent.post(f"{url}/incidents", json={"incident_id": "one-more"}), 409)
    assert told["limit"] == 200
    assert ok(await agent.post(f"{url}/incidents", json={"incident_id": "inc-7"})) == opened  # already linked
    assert ok(await agent.get(url)) == opened


async def test_comments_and_work_notes_are_on_the_timeline_newest_first(infra, agent):
    opened = await open_problem(agent)
    url = f"{API}/problems/{opened['id']}"
    ok(await agent.post(f"{url}/comments", json={"text": "seen again tonight"}))
    await move(agent, ok(await agent.get(url)), "assess")
    noted = ok(await agent.post(f"{url}/work-notes", json={"text": "heap dump attached"}))

    page = (await agent.get(f"{url}/activity", params={"limit": 2})).json()
    assert [(e["kind"], e["text"]) for e in page["items"]] == [("work_note", "heap dump attached"), ("field", None)]
    assert page["items"][1]["field"] == "state" and page["items"][1]["new_value"] == "assess"
    assert all(e["actor"] == "agent-14" and e["problem_id"] == opened["id"] for e in page["items"])
    rest = (await agent.get(f"{url}/activity", params={"cursor": page["next_cursor"]})).json()
    assert [(e["kind"], e["text"]) for e in rest["items"]] == [("comment", "seen again tonight"),
                                                               ("opened", opened["short_description"])]
    assert rest["next_cursor"] is None
    refused(await agent.get(f"{API}/problems/{uuid.uuid4()}/activity"), 404)

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.PROBLEMS,
                               until=lambda rs: len(events_of(rs, opened["id"])) == noted["version"])
    events = events_of(records, opened["id"])
    assert [e.type for e in events] == ["itsm.problem.opened", "itsm.problem.commented", MOVED,
                                        "itsm.problem.work_note_added"]
    assert events[3].data["text"] == "heap dump attached" and events[3].data["actor"] == "agent-14"


async def test_a_requester_reaches_no_problem_work(platform, agent):
    opened = await open_problem(agent)
    url = f"{API}/problems/{opened['id']}"
    async with signed_in(platform, "req-14", "requester") as req:
        for method, path, body in [("GET", "/activity", None), ("POST", "/comments", {"text": "hi"}),
                                   ("POST", "/work-notes", {"text": "hi"}), ("POST", "/close", None),
                                   ("POST", "/incidents", {"incident_id": "i-1"}), ("DELETE", "/incidents/i-1", None),
                                   ("POST", "/resolve", {"resolution_code": "duplicate", "notes": "x"}),
                                   ("POST", "/root-cause", {"description": "x", "cause_code": "unknown"})]:
            refused(await req.request(method, f"{url}{path}", json=body), 403)
    assert ok(await agent.get(url)) == opened
    assert await timeline_rows(opened["id"]) == 1
