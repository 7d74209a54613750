"""Problems found in the incident stream (issue 14), through the gateway, against the real services, PostgreSQL and
Kafka: detection rules (admins' data) open one candidate problem per CI that recurs and link its incidents; links an
agent makes on the incident's side reach the problem (or are refused); open problems are suggested for new
incidents; the aging report."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from itsm_contracts import envelope, topics
from itsm_contracts.events.incidents import IncidentOpened
from tests.helpers import database_scalar, eventually, token

pytestmark = pytest.mark.e2e

API = "/api/v1"
CI_RULE = "00000000-0000-4000-8000-000000000001"  # the shipped "same CI: 3 within 24 h" rule


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


def refused(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


@pytest.fixture
async def agent(platform):
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30, headers={
            "authorization": f"Bearer {token(f'agent-{uuid.uuid4().hex[:6]}', roles=['agent'])}"}) as client:
        yield client


async def open_incidents(client: httpx.AsyncClient, count: int, **fields) -> list[dict]:
    """`count` incidents at once, as a storm opens them."""
    responses = await asyncio.gather(*(client.post(f"{API}/incidents", json={
        "short_description": f"incident {n} {uuid.uuid4().hex[:6]}", **fields}) for n in range(count)))
    return [ok(r, 201) for r in responses]


async def problems_detected(value: str) -> int:
    return await database_scalar("problems", "SELECT count(*) FROM problems WHERE detected_value = $1", value)


async def observed(incident_ids: list[str]) -> None:
    """Wait until the problems service has observed (and so run detection on) these incidents."""
    async def probe():
        seen = await database_scalar("problems", "SELECT count(*) FROM incident_observations WHERE id = ANY($1)",
                                     incident_ids)
        assert seen == len(incident_ids)
    await eventually(probe)


async def detected_problem(client: httpx.AsyncClient, incident_ids: list[str]) -> dict:
    """The one problem linking all these incidents, once it does."""
    async def probe():
        found = {p["id"]: p for i in incident_ids
                 for p in ok(await client.get(f"{API}/problems", params={"incident_id": i}))["items"]}
        assert len(found) == 1, found
        [problem] = found.values()
        assert set(incident_ids) <= set(problem["related_incidents"]), problem
        return problem
    return await eventually(probe)


async def test_incidents_on_one_ci_reaching_the_threshold_open_exactly_one_problem_linking_them(agent, infra):
    ci = f"db-{uuid.uuid4().hex[:10]}"
    storm = await open_incidents(agent, 5, affected_ci=ci, impact=2, urgency=2)
    ids = [i["id"] for i in storm]
    problem = await detected_problem(agent, ids)
    assert (problem["detection_rule_id"], problem["detected_on"], problem["detected_value"]) == (CI_RULE, "ci", ci)
    assert problem["short_description"].startswith(f"Recurring incidents on CI {ci}: ")
    assert (problem["state"], problem["priority"], problem["opened_by"]) == ("new", 3, "system")  # impact 2 x urgency 2
    assert sorted(problem["related_incidents"]) == sorted(ids)

    async def incidents_show_it():
        shown = ok(await agent.get(f"{API}/incidents", params={"problem_id": problem["id"], "limit": 200}))["items"]
        assert sorted(i["id"] for i in shown) == sorted(ids)
    await eventually(incidents_show_it)

    # One more on that CI joins the open candidate.
    [later] = await open_incidents(agent, 1, affected_ci=ci)
    joined = await detected_problem(agent, [*ids, later["id"]])
    assert joined["id"] == problem["id"]

    # The incidents' opened events again, under new event ids (a producer replaying them): no second problem.
    producer = AIOKafkaProducer(bootstrap_servers=infra["ITSM_KAFKA_BOOTSTRAP"], acks="all")
    await producer.start()
    replayed = []
    try:
        for i in [*storm, later]:
            event = envelope(IncidentOpened(
                incident_id=i["id"], number=i["number"], short_description=i["short_description"], state="new",
                impact=i["impact"], urgency=i["urgency"], priority=i["priority"], origin="manual",
                opened_at=datetime.fromisoformat(i["opened_at"]), affected_ci=ci), source="itsm/incidents",
                subject=i["id"], sequence=1)
            replayed.append(event.id)
            await producer.send_and_wait(topics.INCIDENTS, event.to_json(), key=i["id"].encode())
    finally:
        await producer.stop()

    async def handled():
        done = await database_scalar("problems", "SELECT count(*) FROM inbox WHERE event_id = ANY($1)", replayed)
        assert done == len(replayed)
    await eventually(handled)
    assert await problems_detected(ci) == 1
    again = ok(await agent.get(f"{API}/problems/{problem['id']}"))
    assert sorted(again["related_incidents"]) == sorted([*ids, later["id"]])


async def test_below_the_threshold_and_under_a_disabled_rule_nothing_is_opened(gateway, agent):
    service = f"svc-{uuid.uuid4().hex[:10]}"
    rule = ok(await gateway.post(f"{API}/detection-rules", json={
        "name": "checkout pairs", "dimension": "business_service", "threshold": 2, "window_minutes": 60,
        "enabled": False, "impact": 1, "urgency": 1, "assignment_group": "Checkout"}), 201)
    try:
        first = await open_incidents(agent, 3, business_service=service)
        await observed([i["id"] for i in first])
        assert await problems_detected(service) == 0  # 3 is under the shipped rule's 5, and this one is disabled

        enabled = ok(await gateway.patch(f"{API}/detection-rules/{rule['id']}", json={"enabled": True},
                                         headers={"if-match": f'"{rule["version"]}"'}))
        assert (enabled["enabled"], enabled["version"]) == (True, rule["version"] + 1)
        more = await open_incidents(agent, 1, business_service=service)
        problem = await detected_problem(agent, [i["id"] for i in [*first, *more]])
        assert (problem["detection_rule_id"], problem["priority"], problem["assignment_group"]) == (
            rule["id"], 1, "Checkout")
    finally:
        ok(await gateway.delete(f"{API}/detection-rules/{rule['id']}"), 204)
    assert (await gateway.get(f"{API}/detection-rules/{rule['id']}")).status_code == 404


async def test_the_shipped_rules_are_documented_defaults(agent):
    rules = {r["dimension"]: r for r in ok(await agent.get(f"{API}/detection-rules"))["items"]
             if r["id"].startswith("00000000-0000-4000-8000-")}
    assert {d: (r["threshold"], r["window_minutes"], r["enabled"]) for d, r in rules.items()} == {
        "ci": (3, 1440, True), "business_service": (5, 1440, True), "category": (10, 1440, False)}


async def test_only_admins_write_detection_rules_and_agents_read_them(platform, agent, gateway):
    body = {"name": "x", "dimension": "ci", "threshold": 4, "window_minutes": 60}
    refused(await agent.post(f"{API}/detection-rules", json=body), 403)
    refused(await agent.patch(f"{API}/detection-rules/{CI_RULE}", json={"threshold": 9}), 403)
    refused(await agent.delete(f"{API}/detection-rules/{CI_RULE}"), 403)
    assert ok(await agent.get(f"{API}/detection-rules/{CI_RULE}"))["threshold"] == 3
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30, headers={
            "authorization": f"Bearer {token('req-1', roles=['requester'])}"}) as requester:
        refused(await requester.get(f"{API}/detection-rules"), 403)


@pytest.mark.parametrize("body", [
    {"name": "x", "dimension": "caller", "threshold": 3, "window_minutes": 60},
    {"name": "x", "dimension": "ci", "threshold": 1, "window_minutes": 60},
    {"name": "x", "dimension": "ci", "threshold": 3, "window_minutes": 0},
    {"name": "x", "dimension": "ci", "threshold": 3, "window_minutes": 60, "impact": 4},
    {"name": "", "dimension": "ci", "threshold": 3, "window_minutes": 60},
    {"name": "x", "dimension": "ci", "threshold": 3, "window_minutes": 60, "colour": "red"},
])
async def test_a_bad_rule_is_a_422_and_writes_nothing(gateway, body):
    before = ok(await gateway.get(f"{API}/detection-rules"))["items"]
    refused(await gateway.post(f"{API}/detection-rules", json=body), 422)
    assert ok(await gateway.get(f"{API}/detection-rules"))["items"] == before


async def test_a_bad_or_stale_change_to_a_rule_changes_nothing(gateway):
    rule = ok(await gateway.post(f"{API}/detection-rules", json={
        "name": "tmp", "dimension": "category", "threshold": 50, "window_minutes": 5, "enabled": False}), 201)
    url = f"{API}/detection-rules/{rule['id']}"
    try:
        for bad in ({}, {"dimension": "ci"}, {"threshold": 0}, {"enabled": None}):
            refused(await gateway.patch(url, json=bad), 422)
        refused(await gateway.patch(url, json={"threshold": 60}, headers={"if-match": '"99"'}), 412)
        assert ok(await gateway.get(url)) == rule
    finally:
        ok(await gateway.delete(url), 204)


async def test_links_made_on_the_incidents_side_reach_the_problem_or_are_taken_back(agent):
    [incident] = await open_incidents(agent, 1)
    first = ok(await agent.post(f"{API}/problems", json={"short_description": f"first {uuid.uuid4().hex[:6]}"}), 201)
    second = ok(await agent.post(f"{API}/problems", json={"short_description": f"second {uuid.uuid4().hex[:6]}"}),
                201)
    url = f"{API}/incidents/{incident['id']}/problem"

    async def problem_links(problem: dict, expected: list[str]) -> None:
        async def probe():
            assert ok(await agent.get(f"{API}/problems/{problem['id']}"))["related_incidents"] == expected
        await eventually(probe)
        await heard_back(problem["id"])

    async def heard_back(problem_id: str) -> None:
        """The incidents service has handled every event the problem published. (A link made here comes back as
        itsm.problem.incident_linked; were it to arrive after the next move, the incidents service would move the
        incident back: noticed in the incidents service, left to its owner.)"""
        async def probe():
            sent = await database_scalar(
                "problems", "SELECT array_agg(event_id) FROM outbox WHERE key = $1"
                " AND convert_from(payload, 'UTF8')::jsonb->>'type' LIKE 'itsm.problem.incident_%'", problem_id)
            heard = await database_scalar("incidents", "SELECT count(*) FROM inbox WHERE event_id = ANY($1)", sent)
            assert heard == len(sent or [])
        await eventually(probe)

    ok(await agent.put(url, json={"problem_id": first["id"]}))
    await problem_links(first, [incident["id"]])
    ok(await agent.put(url, json={"problem_id": second["id"]}))  # moved: the first drops it
    await problem_links(second, [incident["id"]])
    await problem_links(first, [])
    ok(await agent.delete(url))
    await problem_links(second, [])

    # A problem that does not exist refuses: the incident takes the link back.
    unknown = str(uuid.uuid4())
    ok(await agent.put(url, json={"problem_id": unknown}))

    async def taken_back():
        assert ok(await agent.get(f"{API}/incidents/{incident['id']}"))["problem_id"] is None
    await eventually(taken_back)


async def test_a_new_incident_is_suggested_the_open_problem_its_text_matches(agent):
    tag = uuid.uuid4().hex[:8]
    problem = ok(await agent.post(f"{API}/problems", json={
        "short_description": f"Payroll export {tag} times out on month end",
        "description": "The payroll batch export to the bank gateway exceeds its timeout when volumes peak."}), 201)
    [incident] = await open_incidents(agent, 1)  # unrelated words: nothing kept for it
    matching = ok(await agent.post(f"{API}/incidents", json={
        "short_description": f"payroll export {tag} timing out",
        "description": "The bank export of payroll failed again with a timeout"}), 201)

    async def kept():
        # Kept once the problems service has read the incident; until then the route searches live, which
        # answers the same: wait for what was kept, then read it.
        stored = await database_scalar("problems", "SELECT count(*) FROM link_suggestions WHERE incident_id = $1",
                                       matching["id"])
        assert 1 <= stored <= 3
        found = ok(await agent.get(f"{API}/incidents/{matching['id']}/problem-suggestions"))["items"]
        assert found and found[0]["problem_id"] == problem["id"], found
        return found
    [best, *_] = await eventually(kept)
    assert best["incident_id"] == matching["id"] and best["score"] > 0 and best["state"] == "new"

    # Nothing kept for the other: its own words are searched now (none of them match this problem).
    other = ok(await agent.get(f"{API}/incidents/{incident['id']}/problem-suggestions"))["items"]
    assert problem["id"] not in [s["problem_id"] for s in other]
    live = ok(await agent.get(f"{API}/problem-suggestions", params={"text": f"payroll {tag} export timeout"}))
    assert live["items"][0]["problem_id"] == problem["id"]
    refused(await agent.get(f"{API}/problem-suggestions", params={"text": "x" * 2001}), 422)
    refused(await agent.get(f"{API}/incidents/{uuid.uuid4()}/problem-suggestions"), 404)


async def test_the_aging_report_counts_problems_per_state_and_age(agent):
    before = {r["state"]: r for r in ok(await agent.get(f"{API}/reports/problems/aging"))["rows"]}
    ok(await agent.post(f"{API}/problems", json={"short_description": f"aging {uuid.uuid4().hex[:6]}"}), 201)
    report = ok(await agent.get(f"{API}/reports/problems/aging"))
    rows = {r["state"]: r for r in report["rows"]}
    assert list(rows) == ["new", "assess", "root_cause_analysis", "fix_in_progress", "resolved", "closed", "canceled"]
    assert rows["new"]["total"] == before["new"]["total"] + 1
    assert rows["new"]["by_age"]["0-7d"] == before["new"]["by_age"]["0-7d"] + 1
    assert all(sum(r["by_age"].values()) == r["total"] for r in rows.values())
    assert rows["new"]["oldest_opened_at"] is not None


async def test_a_known_errors_impact_report_counts_incidents_per_week_on_its_cis(agent):
    ci = f"ci-{uuid.uuid4().hex[:10]}"
    incidents = await open_incidents(agent, 2, affected_ci=ci)
    await observed([i["id"] for i in incidents])
    problem = ok(await agent.post(f"{API}/problems", json={
        "short_description": f"impact {ci}", "affected_cis": [ci], "impact": 3, "urgency": 3}), 201)
    for state in ("assess", "root_cause_analysis"):
        problem = ok(await agent.post(f"{API}/problems/{problem['id']}/state", json={"state": state},
                                      headers={"if-match": f'"{problem["version"]}"'}))
    problem = ok(await agent.post(f"{API}/problems/{problem['id']}/root-cause", json={
        "description": "a leak", "cause_code": "software"}, headers={"if-match": f'"{problem["version"]}"'}))
    known = ok(await agent.post(f"{API}/problems/{problem['id']}/known-error", json={
        "symptoms": "slow", "workaround": "restart it"}, headers={"if-match": f'"{problem["version"]}"'}))

    report = ok(await agent.get(f"{API}/known-errors/{known['id']}/impact", params={"weeks": 3}))
    assert (report["known_error_id"], report["number"], report["affected_cis"]) == (known["id"], known["number"], [ci])
    assert [len(report["before"]), len(report["after"])] == [3, 3]
    published = datetime.fromisoformat(report["published_at"])
    first, second = (datetime.fromisoformat(w["week_start"]) for w in report["after"][:2])
    assert first.weekday() == 0 and (first.hour, first.minute) == (0, 0) and first <= published < second
    # Opened the week it was published: counted from then on; none before.
    assert [w["incidents"] for w in report["after"]] == [2, 0, 0]
    assert [w["incidents"] for w in report["before"]] == [0, 0, 0]
    refused(await agent.get(f"{API}/known-errors/{known['id']}/impact", params={"weeks": 0}), 422)
    refused(await agent.get(f"{API}/known-errors/{uuid.uuid4()}/impact"), 404)
