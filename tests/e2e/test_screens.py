"""Composed screens through the gateway, against the real services, PostgreSQL and Kafka: incident detail, my work
and the dashboard each in one call; with a service stopped (or hanging) the screen still answers 200, naming the part
it could not get in `unavailable`.

Names and groups are unique per test, so the tests share the databases with the rest of the suite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from tests.e2e.test_problems_and_changes import request_change
from tests.helpers import eventually, gateway_replica, token

pytestmark = pytest.mark.e2e

API = "/api/v1"
SCREENS = f"{API}/screens"


def signed_in(subject: str, roles: list[str], groups: list[str] = ()) -> str:
    """A gateway token (HS256, as tests.helpers.token) that also carries groups, in the default `groups` claim."""
    now = datetime.now(UTC)
    claims = {"sub": subject, "roles": roles, "groups": list(groups), "aud": "itsm", "iat": now,
              "exp": now + timedelta(hours=1)}
    return jwt.encode(claims, os.environ["ITSM_GATEWAY_JWT_SECRET"], algorithm="HS256")


@contextlib.asynccontextmanager
async def client(platform, bearer: str):
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30,
                                 headers={"authorization": f"Bearer {bearer}"}) as c:
        yield c


def created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


async def estate(gateway, tag: str) -> tuple[dict, dict]:
    """An application CI and the business service that depends on it."""
    app = created(await gateway.post(f"{API}/cmdb/cis", json={"name": f"screens app {tag}",
                                                             "ci_class": "application", "criticality": 2}))
    service = created(await gateway.post(f"{API}/cmdb/cis", json={"name": f"screens service {tag}",
                                                                 "ci_class": "business_service", "criticality": 1}))
    created(await gateway.post(f"{API}/cmdb/relationships",
                               json={"source_id": service["id"], "type": "depends_on", "target_id": app["id"]}))
    return app, service


@pytest.fixture
async def worked(gateway):
    """An incident on an application CI, with a comment and a work note, a problem linked to it and a change on
    its CI."""
    tag = uuid.uuid4().hex[:8]
    app, service = await estate(gateway, tag)
    incident = created(await gateway.post(f"{API}/incidents", json={
        "short_description": f"checkout down {tag}", "affected_ci": app["id"], "impact": 1, "urgency": 1}))
    ok(await gateway.post(f"{API}/incidents/{incident['id']}/comments", json={"text": "looking into it"}))
    ok(await gateway.post(f"{API}/incidents/{incident['id']}/work-notes", json={"text": f"internal {tag}"}))
    problem = created(await gateway.post(f"{API}/problems", json={
        "short_description": f"checkout keeps failing {tag}", "related_incidents": [incident["id"]]}))
    change = created(await gateway.post(f"{API}/changes", json={
        "short_description": f"roll back checkout {tag}", "change_type": "normal", "affected_cis": [app["id"]]}))
    return {"tag": tag, "app": app, "service": service, "incident": incident, "problem": problem, "change": change}


async def detail(gateway, incident_id: str, **expected) -> dict:
    """The incident's detail once its SLA timers are there (they come by event)."""
    async def composed() -> dict:
        body = ok(await gateway.get(f"{SCREENS}/incidents/{incident_id}"))
        assert body["sla_timers"], body["unavailable"]
        return body

    return await eventually(composed, timeout=20)


async def timers_ready(gateway, incident_id: str) -> None:
    """The incident's SLA timers exist (they come by event), asked without the screen: nothing of the screen
    is kept in its cache yet, so a service stopped now is missing from it."""
    async def timed() -> None:
        assert ok(await gateway.get(f"{API}/incidents/{incident_id}"))["sla_timers"]

    await eventually(timed, timeout=20)


async def test_incident_detail_composes_every_part(gateway, worked):
    body = await detail(gateway, worked["incident"]["id"])
    assert body["unavailable"] == [] and body["withheld"] == []
    assert body["incident"]["id"] == worked["incident"]["id"]
    assert body["affected_ci"]["id"] == worked["app"]["id"]
    assert [s["id"] for s in body["impacted_services"]] == [worked["service"]["id"]]
    assert {t["kind"] for t in body["sla_timers"]} >= {"resolution"}
    assert all(t["incident_id"] == worked["incident"]["id"] for t in body["sla_timers"])
    assert [p["id"] for p in body["problems"]] == [worked["problem"]["id"]]
    assert [c["id"] for c in body["changes"]] == [worked["change"]["id"]]
    kinds = [entry["kind"] for entry in body["timeline"]["items"]]
    assert {"opened", "comment", "work_note"} <= set(kinds)
    ats = [entry["at"] for entry in body["timeline"]["items"]]
    assert ats == sorted(ats, reverse=True)  # newest first


async def test_an_incident_without_a_ci_has_empty_ci_parts(gateway):
    incident = created(await gateway.post(f"{API}/incidents", json={"short_description": "no CI named"}))
    body = await detail(gateway, incident["id"])
    assert body["unavailable"] == []
    assert body["affected_ci"] is None and body["impacted_services"] == [] and body["changes"] == []
    assert body["problems"] == [] and body["timeline"]["items"][-1]["kind"] == "opened"


async def test_an_unknown_incident_is_the_screens_404(gateway):
    response = await gateway.get(f"{SCREENS}/incidents/{uuid.uuid4()}")
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_requester_sees_no_work_notes_problems_or_changes(gateway, platform):
    tag = uuid.uuid4().hex[:8]
    requester = f"requester-{tag}"
    async with client(platform, token(requester, ["requester"])) as mine:
        incident = created(await mine.post(f"{API}/incidents", json={
            "short_description": f"my laptop {tag}", "caller": requester}))
        ok(await gateway.post(f"{API}/incidents/{incident['id']}/work-notes", json={"text": f"internal {tag}"}))
        ok(await gateway.post(f"{API}/incidents/{incident['id']}/comments", json={"text": "we are on it"}))
        created(await gateway.post(f"{API}/problems", json={
            "short_description": f"laptops {tag}", "related_incidents": [incident["id"]]}))
        body = await detail(mine, incident["id"])
    kinds = {entry["kind"] for entry in body["timeline"]["items"]}
    assert "comment" in kinds and "work_note" not in kinds
    assert all(f"internal {tag}" != entry["text"] for entry in body["timeline"]["items"])
    assert body["problems"] is None and body["changes"] is None
    assert body["withheld"] == ["problems", "changes"] and body["unavailable"] == []
    # The same incident for an agent: the work note is there.
    agent = await detail(gateway, incident["id"])
    assert "work_note" in {entry["kind"] for entry in agent["timeline"]["items"]}
    assert [p["short_description"] for p in agent["problems"]] == [f"laptops {tag}"]


async def test_a_requester_gets_a_404_for_someone_elses_incident(gateway, platform, worked):
    async with client(platform, token(f"requester-{worked['tag']}", ["requester"])) as requester:
        response = await requester.get(f"{SCREENS}/incidents/{worked['incident']['id']}")
    assert response.status_code == 404, response.text
    assert worked["tag"] not in response.text


async def test_a_requester_may_not_have_my_work_or_the_dashboard(platform):
    async with client(platform, token("requester-x", ["requester"])) as requester:
        for screen in ("my-work", "dashboard"):
            response = await requester.get(f"{SCREENS}/{screen}")
            assert response.status_code == 403, response.text


# -- with a service stopped ------------------------------------------------------------------------

@contextlib.contextmanager
def stopped(platform, service: str):
    """The service killed, and started again afterwards (ready before the next test runs)."""
    platform.kill(service)
    try:
        yield
    finally:
        platform.start([service])


@contextlib.contextmanager
def hanging(platform, service: str):
    """The service's process paused (SIGSTOP): connections open, no answer, until it goes on (SIGCONT)."""
    process = platform.processes[service]
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


async def test_the_detail_answers_without_the_sla_service(gateway, platform, worked):
    incident_id, me = worked["incident"]["id"], f"agent-{worked['tag']}"
    ok(await gateway.patch(f"{API}/incidents/{incident_id}", json={"assignee": me}))
    await timers_ready(gateway, incident_id)  # they exist: only the outage can take them away
    with stopped(platform, "sla"):
        body = ok(await gateway.get(f"{SCREENS}/incidents/{incident_id}"))
        assert body["unavailable"] == ["sla_timers"] and body["sla_timers"] is None
        assert body["incident"]["id"] == incident_id and body["affected_ci"]["id"] == worked["app"]["id"]
        assert [p["id"] for p in body["problems"]] == [worked["problem"]["id"]]
        dashboard = ok(await gateway.get(f"{SCREENS}/dashboard"))
        assert dashboard["unavailable"] == ["breaches_today", "at_risk"]
        assert dashboard["breaches_today"] is None and dashboard["open_incidents"]["total"] >= 1
        async with client(platform, signed_in(me, ["agent"])) as agent:
            mine = ok(await agent.get(f"{SCREENS}/my-work"))
        assert mine["unavailable"] == ["sla"]
        assert [(i["id"], i["sla_due_at"]) for i in mine["items"]] == [(incident_id, None)]


async def test_the_detail_answers_without_the_cmdb(gateway, platform, worked):
    incident_id = worked["incident"]["id"]
    app, _ = await estate(gateway, f"unseen-{worked['tag']}")
    unseen = created(await gateway.post(f"{API}/incidents", json={"short_description": "on a CI never shown",
                                                                 "affected_ci": app["id"]}))
    await timers_ready(gateway, unseen["id"])
    seen = await detail(gateway, incident_id)  # its CI's parts are kept from here (a CMDB write would drop them)
    with stopped(platform, "cmdb"):
        body = ok(await gateway.get(f"{SCREENS}/incidents/{unseen['id']}"))
        kept = ok(await gateway.get(f"{SCREENS}/incidents/{incident_id}"))
    assert body["unavailable"] == ["affected_ci", "impacted_services"]
    assert body["affected_ci"] is None and body["impacted_services"] is None
    assert body["sla_timers"] and body["incident"]["id"] == unseen["id"]
    # What was shown before the outage and has not changed since is still shown.
    assert kept["unavailable"] == [] and kept["affected_ci"] == seen["affected_ci"]
    assert [c["id"] for c in kept["changes"]] == [worked["change"]["id"]]


async def test_the_screens_answer_without_the_changes_service(gateway, platform, worked):
    incident_id = worked["incident"]["id"]
    await timers_ready(gateway, incident_id)
    with stopped(platform, "changes"):
        body = ok(await gateway.get(f"{SCREENS}/incidents/{incident_id}"))
        dashboard = ok(await gateway.get(f"{SCREENS}/dashboard"))
        mine = ok(await gateway.get(f"{SCREENS}/my-work"))
    assert body["unavailable"] == ["changes"] and body["changes"] is None
    assert body["affected_ci"]["id"] == worked["app"]["id"] and body["sla_timers"]
    assert dashboard["unavailable"] == ["changes_today"] and dashboard["changes_today"] is None
    assert mine["unavailable"] == ["changes"]


async def test_a_hanging_service_costs_the_screen_one_part_timeout(gateway, platform, worked):
    """A service that takes connections but never answers: the part is left out after the part timeout (2 s by
    default), not after the upstream timeout (10 s)."""
    incident_id = worked["incident"]["id"]
    await timers_ready(gateway, incident_id)
    with hanging(platform, "problems"):
        started = time.monotonic()
        body = ok(await gateway.get(f"{SCREENS}/incidents/{incident_id}"))
        took = time.monotonic() - started
    assert body["unavailable"] == ["problems"] and body["problems"] is None
    assert body["sla_timers"] and body["changes"]
    assert 1.5 < took < 6, took


# -- my work -------------------------------------------------------------------------------------

async def test_my_work_has_mine_and_my_groups_and_not_someone_elses(gateway, platform):
    tag = uuid.uuid4().hex[:8]
    me, group = f"agent-{tag}", f"desk-{tag}"

    async def incident(description: str, **assignment) -> dict:
        return created(await gateway.post(f"{API}/incidents", json={"short_description": f"{description} {tag}",
                                                                   **assignment}))

    mine = await incident("mine", assignee=me, impact=2, urgency=2)
    ours = await incident("ours", assignment_group=group, impact=1, urgency=1)
    theirs = await incident("theirs", assignee=f"other-{tag}", assignment_group=f"other-desk-{tag}")
    problem = created(await gateway.post(f"{API}/problems", json={
        "short_description": f"our problem {tag}", "assignment_group": group}))
    change = created(await gateway.post(f"{API}/changes", json={
        "short_description": f"my change {tag}", "change_type": "normal", "assignee": me}))
    other_change = created(await gateway.post(f"{API}/changes", json={
        "short_description": f"their change {tag}", "change_type": "normal", "assignee": f"other-{tag}"}))

    async with client(platform, signed_in(me, ["agent"], [group, f"another-{tag}"])) as agent:
        async def listed() -> dict:
            body = ok(await agent.get(f"{SCREENS}/my-work"))
            incidents = [i for i in body["items"] if i["type"] == "incident"]
            assert all(i["sla_due_at"] for i in incidents), incidents  # the timers come by event
            return body

        body = await eventually(listed, timeout=20)
    assert body["unavailable"] == [] and body["truncated"] is False
    ids = [item["id"] for item in body["items"]]
    assert set(ids) == {mine["id"], ours["id"], problem["id"], change["id"]}
    assert theirs["id"] not in ids and other_change["id"] not in ids
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id[mine["id"]]["assignee"] == me and by_id[ours["id"]]["assignment_group"] == group
    assert by_id[problem["id"]]["type"] == "problem" and by_id[change["id"]]["type"] == "change"
    # SLA urgency first: the P1's default timers are due sooner than the P3's; records without a timer after.
    assert ids[:2] == [ours["id"], mine["id"]]
    assert by_id[ours["id"]]["sla_due_at"] < by_id[mine["id"]]["sla_due_at"]


async def test_my_work_is_bounded(gateway, platform):
    tag = uuid.uuid4().hex[:8]
    me = f"agent-{tag}"
    for n in range(3):
        created(await gateway.post(f"{API}/incidents", json={"short_description": f"{n} {tag}", "assignee": me}))
    async with client(platform, signed_in(me, ["agent"])) as agent:
        body = ok(await agent.get(f"{SCREENS}/my-work", params={"limit": 2}))
        assert len(body["items"]) == 2 and body["truncated"] is True
        assert (await agent.get(f"{SCREENS}/my-work", params={"limit": 201})).status_code == 422


# -- dashboard -----------------------------------------------------------------------------------

async def test_the_dashboard_counts_open_incidents_breaches_risks_and_todays_changes(gateway):
    created(await gateway.post(f"{API}/incidents", json={"short_description": "dashboard P1", "impact": 1,
                                                         "urgency": 1}))
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    today, tomorrow = now + (midnight - now) / 2, midnight + timedelta(hours=1)

    async def scheduled(start: datetime) -> dict:
        change = await request_change(gateway, short_description=f"standard change at {start.isoformat()}",
                                      change_type="standard", planned_start=start.isoformat(),
                                      planned_end=(start + timedelta(minutes=30)).isoformat())
        return ok(await gateway.post(f"{API}/changes/{change['id']}/state", json={"state": "scheduled"}))

    todays, tomorrows = await scheduled(today), await scheduled(tomorrow)
    unscheduled = created(await gateway.post(f"{API}/changes", json={
        "short_description": "not scheduled yet", "change_type": "normal", "planned_start": today.isoformat(),
        "planned_end": (today + timedelta(minutes=30)).isoformat()}))
    body = ok(await gateway.get(f"{SCREENS}/dashboard"))
    assert body["unavailable"] == []
    assert body["day"] == datetime.now(UTC).date().isoformat()
    counts = body["open_incidents"]
    assert set(counts["by_state"]) == {"new", "in_progress", "on_hold"}
    assert counts["by_priority"]["1"] >= 1 and counts["total"] == sum(counts["by_state"].values())
    breaches = body["breaches_today"]
    assert breaches["total"] == breaches["open"] + breaches["completed"]
    assert 0 <= breaches["compliance_percent"] <= 100
    assert body["at_risk"]["count"] >= len(body["at_risk"]["items"])
    listed = [c["id"] for c in body["changes_today"]]
    assert todays["state"] == "scheduled" and todays["id"] in listed
    assert tomorrows["id"] not in listed and unscheduled["id"] not in listed
    starts = [c["planned_start"] for c in body["changes_today"]]
    assert starts == sorted(starts, key=datetime.fromisoformat)


# -- the screen cache ------------------------------------------------------------------------------

async def test_a_write_shows_on_the_next_detail_from_this_gateway_and_from_another_by_its_event(gateway, platform,
                                                                                             worked):
    """Parts are kept between screens (screen_cache.py), but never past a change. Here they would be kept an
    hour: a write through this gateway drops what it touched at once; one through another replica reaches this
    one's cache by its event."""
    incident_id = worked["incident"]["id"]
    with gateway_replica(platform, "gateway-screens-cached", 80, screen_cache_seconds=3600) as url:
        async with httpx.AsyncClient(base_url=url, headers=gateway.headers, timeout=30) as cached:
            await detail(cached, incident_id)
            ok(await cached.post(f"{API}/incidents/{incident_id}/comments", json={"text": "here first"}))
            body = ok(await cached.get(f"{SCREENS}/incidents/{incident_id}"))
            assert body["timeline"]["items"][0]["text"] == "here first"

            # The platform's own gateway is the other replica.
            ok(await gateway.patch(f"{API}/incidents/{incident_id}", json={"assignment_group": "network"}))
            ok(await gateway.post(f"{API}/problems/{worked['problem']['id']}/state", json={"state": "assess"}))
            await request_change(gateway, short_description="also on this CI", change_type="standard",
                                 affected_cis=[worked["app"]["id"]])

            async def updated() -> None:
                body = ok(await cached.get(f"{SCREENS}/incidents/{incident_id}"))
                assert body["incident"]["assignment_group"] == "network"
                assert [p["state"] for p in body["problems"]] == ["assess"]
                assert len(body["changes"]) == 2

            await eventually(updated, timeout=30)
