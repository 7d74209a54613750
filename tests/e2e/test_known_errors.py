"""Known errors through the gateway (issue 14), against the real problems service, PostgreSQL and Kafka.

An agent publishes an analysed problem as a known error, revises it and retires it; the problem's events carry the
workaround and the linked incidents. A problem without a root cause, bad input and a stale version are refused and
write nothing; requesters see no known error.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from itsm_contracts import topics
from tests.e2e.test_problem_management import events_of, if_match, move, ok, open_problem, refused
from tests.e2e.test_screens import estate
from tests.helpers import database_scalar, eventually, read_topic, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
PUBLISHED = "itsm.problem.known_error_published"


@pytest.fixture
async def agent(platform):
    async with signed_in(platform, "agent-ke", "agent") as client:
        yield client


async def analysed_problem(agent: httpx.AsyncClient, **fields) -> dict:
    problem = await move(agent, await open_problem(agent, **fields), "assess")
    problem = await move(agent, problem, "root_cause_analysis")
    return ok(await agent.post(f"{API}/problems/{problem['id']}/root-cause", headers=if_match(problem), json={
        "description": "the TLS session cache is never evicted", "cause_code": "software"}))


async def known_error_rows(problem_id: str) -> int:
    return await database_scalar("problems", "SELECT count(*) FROM known_errors WHERE problem_id = $1", problem_id)


async def test_a_known_error_is_published_revised_and_retired(infra, agent):
    ci, incidents = str(uuid.uuid4()), [str(uuid.uuid4()), str(uuid.uuid4())]
    problem = await analysed_problem(agent, related_incidents=incidents, affected_cis=[ci])
    url = f"{API}/problems/{problem['id']}/known-error"

    published = await agent.post(url, headers=if_match(problem), json={
        "symptoms": "logins hang for 30 s", "workaround": "restart the auth proxy"})
    known = ok(published)
    assert published.headers["location"] == f"{API}/known-errors/{known['id']}"
    assert (known["state"], known["revision"], known["problem_id"], known["affected_cis"]) == (
        "published", 1, problem["id"], [ci])
    assert known["number"].startswith("KE") and known["root_cause"] == "the TLS session cache is never evicted"
    assert ok(await agent.get(url)) == known
    shown = ok(await agent.get(f"{API}/problems/{problem['id']}"))
    assert (shown["known_error_id"], shown["version"]) == (known["id"], problem["version"] + 1)
    assert (shown["known_error_number"], shown["workaround"]) == (known["number"], "restart the auth proxy")

    revised = ok(await agent.post(url, headers=if_match(shown), json={
        "symptoms": "logins hang for 30 s", "workaround": "set SESSION_CACHE_MAX=10000 and restart the auth proxy"}))
    assert (revised["id"], revised["revision"]) == (known["id"], 2)
    listed = ok_page(await agent.get(f"{API}/known-errors", params={"ci_id": ci}))
    assert [k["id"] for k in listed] == [known["id"]]

    retired = ok(await agent.post(f"{API}/known-errors/{known['id']}/retire", headers=if_match(revised),
                                  json={"reason": "the eviction fix is deployed"}))
    assert (retired["state"], retired["retired_reason"]) == ("retired", "the eviction fix is deployed")
    assert ok_page(await agent.get(f"{API}/known-errors", params={"ci_id": ci, "state": "published"})) == []
    assert ok(await agent.get(f"{API}/problems/{problem['id']}"))["workaround"] is None, "no longer offered"

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.PROBLEMS,
                               until=lambda rs: "itsm.problem.known_error_retired" in
                               [e.type for e in events_of(rs, problem["id"])])
    publications = [e.data for e in events_of(records, problem["id"]) if e.type == PUBLISHED]
    assert [(p["revision"], p["incident_ids"], p["workaround"]) for p in publications] == [
        (1, incidents, "restart the auth proxy"),
        (2, incidents, "set SESSION_CACHE_MAX=10000 and restart the auth proxy")]
    assert publications[0]["actor"] == "agent-ke" and publications[0]["number"] == known["number"]


def ok_page(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_no_known_error_without_a_root_cause_and_bad_input_writes_nothing(infra, agent, platform):
    problem = await move(agent, await move(agent, await open_problem(agent), "assess"), "root_cause_analysis")
    url = f"{API}/problems/{problem['id']}/known-error"
    body = {"symptoms": "pages load slowly", "workaround": "use the other region"}
    assert "no root cause" in refused(await agent.post(url, json=body), 409)["detail"]
    refused(await agent.post(url, json={"symptoms": "pages load slowly"}), 422)
    refused(await agent.post(url, json={**body, "workaround": "x" * 16_001}), 422)
    refused(await agent.post(url, json={**body, "affected_cis": ["not a ci id!"]}), 422)
    refused(await agent.post(url, json=body, headers={"if-match": '"999"'}), 412)
    refused(await agent.get(url), 404)
    assert await known_error_rows(problem["id"]) == 0
    assert ok(await agent.get(f"{API}/problems/{problem['id']}"))["version"] == problem["version"]

    async with signed_in(platform, "req-ke", "requester") as requester:
        assert (await requester.get(f"{API}/known-errors")).status_code == 403
        assert (await requester.post(url, json=body)).status_code == 403


async def test_a_problem_shows_the_business_services_its_cis_serve_from_the_cmdb_events(infra, agent, gateway):
    app, service = await estate(gateway, uuid.uuid4().hex[:8])
    problem = await open_problem(agent, affected_cis=[app["id"], app["id"]])
    assert problem["affected_cis"] == [app["id"]], "repeats count once"

    async def served() -> list[dict]:
        shown = ok(await agent.get(f"{API}/problems/{problem['id']}"))
        assert shown["business_services"], "the problems service has not heard of the CIs yet"
        return shown["business_services"]
    assert [(s["id"], s["name"]) for s in await eventually(served)] == [(service["id"], service["name"])]
    refused(await agent.post(f"{API}/problems", json={"short_description": "x", "affected_cis": ["bad id!"]}), 422)
