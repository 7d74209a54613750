"""The change schedule (issue 15) through the gateway, against the real services, PostgreSQL and Kafka: blackout
windows refuse a schedule (an emergency that says why aside), overlapping changes on dependent CIs both show the
conflict, the calendar as JSON and as an iCalendar feed a calendar app subscribes to with a feed key, and CI/CD
deployments recorded as implemented standard changes, once per deployment id."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import icalendar
import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import if_match, ok, problem, database_scalar, eventually, read_topic, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
PLANS = {"implementation_plan": "run the playbook", "backout_plan": "restore the snapshot", "test_plan": "smoke test"}





def a_day() -> datetime:
    """A day of its own in the far future, so that tests sharing the platform do not collide on the calendar."""
    return datetime(2040, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(0, 20_000))


def window_of(start: datetime, hours: float = 2) -> dict:
    return {"planned_start": start.isoformat(), "planned_end": (start + timedelta(hours=hours)).isoformat()}


async def change(client: httpx.AsyncClient, change_type: str, cis: list[str], start: datetime,
                 admin: httpx.AsyncClient | None = None, **fields) -> dict:
    """A change requested by `client`; a standard one from a template `admin` creates."""
    body = {"short_description": f"change {uuid.uuid4().hex[:8]}", "change_type": change_type, **window_of(start),
            "affected_cis": cis, **PLANS, **fields}
    if change_type == "standard":
        body["template_id"] = ok(await (admin or client).post(f"{API}/change-templates", json={
            "name": f"template {uuid.uuid4().hex[:8]}", "short_description": "a standard change", **PLANS}), 201)["id"]
    return ok(await client.post(f"{API}/changes", json=body), 201)


async def move(client: httpx.AsyncClient, record: dict, state: str) -> httpx.Response:
    return await client.post(f"{API}/changes/{record['id']}/state", json={"state": state}, headers=if_match(record))


async def scheduled(client: httpx.AsyncClient, admin: httpx.AsyncClient, cis: list[str], start: datetime,
                    hours: float = 2) -> dict:
    """A standard change (pre-authorized) moved into scheduled."""
    record = await change(client, "standard", cis, start, admin, **window_of(start, hours))
    return ok(await move(client, record, "scheduled"))


async def blackout(admin: httpx.AsyncClient, cis: list[str], start: datetime, end: datetime, name: str) -> dict:
    return ok(await admin.post(f"{API}/change-windows", json={
        "kind": "blackout", "name": name, "start": start.isoformat(), "end": end.isoformat(), "cis": cis,
        "reason": "quarter close"}), 201)


async def test_only_admins_write_windows_agents_read_them_and_bad_windows_are_refused(platform, gateway):
    day, ci = a_day(), f"ci-{uuid.uuid4().hex[:8]}"
    async with signed_in(platform, "agent-w", "agent") as agent, signed_in(platform, "req-w", "requester") as req:
        body = {"kind": "maintenance", "name": "patch night", "start": day.isoformat(),
                "end": (day + timedelta(hours=4)).isoformat(), "cis": [ci]}
        problem(await agent.post(f"{API}/change-windows", json=body), 403)
        created = ok(await gateway.post(f"{API}/change-windows", json=body), 201)
        assert created["version"] == 1 and created["created_by"] == "agent-1"
        listed = ok(await agent.get(f"{API}/change-windows", params={"from": day.isoformat(),
                                                                     "to": (day + timedelta(days=1)).isoformat()}))
        assert [w["id"] for w in listed] == [created["id"]]
        problem(await req.get(f"{API}/change-windows"), 403)
    for bad in ({**body, "end": body["start"]}, {**body, "end": (day + timedelta(days=400)).isoformat()},
                {**body, "start": "2040-01-01T00:00:00"}, {**body, "kind": "holiday"}):
        problem(await gateway.post(f"{API}/change-windows", json=bad), 422)
    stale = await gateway.patch(f"{API}/change-windows/{created['id']}", json={"name": "x"},
                                headers={"if-match": '"9"'})
    problem(stale, 412)
    renamed = ok(await gateway.patch(f"{API}/change-windows/{created['id']}", json={"name": "patch night 2"},
                                     headers=if_match(created)))
    assert renamed["version"] == 2
    assert (await gateway.delete(f"{API}/change-windows/{created['id']}", headers=if_match(renamed))).status_code == 204
    problem(await gateway.get(f"{API}/change-windows/{created['id']}"), 404)


async def test_a_change_into_a_blackout_is_refused_naming_it_and_writes_nothing(platform, gateway):
    day, ci = a_day(), f"ci-{uuid.uuid4().hex[:8]}"
    freeze = await blackout(gateway, [ci], day, day + timedelta(days=2), "Quarter-close freeze")
    async with signed_in(platform, "agent-b", "agent") as agent, signed_in(platform, "cab-b", "change_manager") as cab:
        standard = await change(agent, "standard", [ci], day + timedelta(hours=5), gateway)
        refused = problem(await move(agent, standard, "scheduled"), 409)
        assert "Quarter-close freeze" in refused["detail"] and refused["blackouts"][0]["id"] == freeze["id"]
        after = ok(await agent.get(f"{API}/changes/{standard['id']}"))
        assert (after["state"], after["version"]) == ("new", standard["version"])
        events = await database_scalar("changes", "SELECT count(*) FROM outbox WHERE key = $1", standard["id"])
        assert events == standard["version"]  # the requested change's events only

        # A normal change is refused at approval, and stays awaiting it.
        normal = await change(agent, "normal", [ci], day + timedelta(hours=5))
        normal = ok(await move(agent, normal, "assess"))
        normal = ok(await move(agent, normal, "authorize"))
        problem(await cab.post(f"{API}/changes/{normal['id']}/approvals", json={"decision": "approve"}), 409)
        assert ok(await agent.get(f"{API}/changes/{normal['id']}"))["state"] == "authorize"

        # Outside the freeze it is scheduled; moving its window into the freeze is refused.
        outside = await scheduled(agent, gateway, [ci], day + timedelta(days=3))
        moved = await agent.patch(f"{API}/changes/{outside['id']}", json=window_of(day + timedelta(days=1)),
                                  headers=if_match(outside))
        problem(moved, 409)
        assert ok(await agent.get(f"{API}/changes/{outside['id']}"))["planned_start"] == outside["planned_start"]


async def test_an_emergency_change_that_says_why_is_scheduled_into_a_blackout(platform, gateway):
    day, ci = a_day(), f"ci-{uuid.uuid4().hex[:8]}"
    await blackout(gateway, [], day, day + timedelta(days=1), "Everything frozen")  # no CIs: every CI
    async with signed_in(platform, "agent-e", "agent") as agent, signed_in(platform, "ecab", "change_manager") as cab:
        silent = ok(await move(agent, await change(agent, "emergency", [ci], day + timedelta(hours=1)), "authorize"))
        problem(await cab.post(f"{API}/changes/{silent['id']}/approvals", json={"decision": "approve"}), 409)
        urgent = await change(agent, "emergency", [ci], day + timedelta(hours=1),
                              blackout_reason="payments are down: the fix cannot wait for the freeze to end")
        urgent = ok(await move(agent, urgent, "authorize"))
        approved = ok(await cab.post(f"{API}/changes/{urgent['id']}/approvals", json={"decision": "approve"}))
        assert approved["state"] == "scheduled" and approved["blackout_reason"].startswith("payments are down")
        # Let in, the freeze still weighs on its risk, named.
        [freeze] = [f for f in approved["risk_factors"] if f["name"] == "freeze"]
        assert "Everything frozen" in freeze["detail"] and freeze["points"] == 3


async def cmdb_ci(gateway: httpx.AsyncClient, name: str) -> str:
    return ok(await gateway.post(f"{API}/cmdb/cis", json={"ci_class": "application", "name": name,
                                                          "criticality": 2}), 201)["id"]


async def test_two_overlapping_changes_on_dependent_cis_both_show_the_conflict(infra, platform, gateway):
    tag, day = uuid.uuid4().hex[:6], a_day()
    database, app = await cmdb_ci(gateway, f"orders-db {tag}"), await cmdb_ci(gateway, f"orders-app {tag}")
    link = ok(await gateway.post(f"{API}/cmdb/relationships", json={"source_id": app, "type": "depends_on",
                                                                    "target_id": database}), 201)

    async def copied() -> None:
        assert await database_scalar("changes", "SELECT count(*) FROM cmdb_relationships WHERE id = $1",
                                     link["id"]) == 1
    await eventually(copied)

    async with signed_in(platform, "agent-c", "agent") as agent:
        first = await scheduled(agent, gateway, [database], day)
        assert first["conflicts"] == []
        second = await scheduled(agent, gateway, [app], day + timedelta(hours=1))
        [theirs] = second["conflicts"]
        assert (theirs["change_id"], theirs["ci"], theirs["other_ci"], theirs["relation"]) == (
            first["id"], app, database, "depended_on_by")
        first = ok(await agent.get(f"{API}/changes/{first['id']}"))
        [mine] = first["conflicts"]
        assert (mine["change_id"], mine["number"], mine["ci"], mine["other_ci"], mine["relation"]) == (
            second["id"], second["number"], database, app, "depends_on")
        # A conflict warns; moving one change apart clears it on both.
        second = ok(await agent.patch(f"{API}/changes/{second['id']}", json=window_of(day + timedelta(days=1)),
                                      headers=if_match(second)))
        assert second["conflicts"] == []
        assert ok(await agent.get(f"{API}/changes/{first['id']}"))["conflicts"] == []

    def detected(records) -> set[str]:
        return {e.subject for e in map(CloudEvent.from_json, (r.value for r in records))
                if e.type == "itsm.change.conflict_detected"}
    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CHANGES,
                               until=lambda rs: {first["id"], second["id"]} <= detected(rs))
    assert {first["id"], second["id"]} <= detected(records)


async def test_the_calendar_shows_planned_changes_and_windows_in_a_bounded_period(platform, gateway):
    day, ci = a_day(), f"ci-{uuid.uuid4().hex[:8]}"
    async with signed_in(platform, "agent-k", "agent") as agent:
        planned = await scheduled(agent, gateway, [ci], day)
        unplanned = await change(agent, "normal", [ci], day)  # new: not on the calendar
        window = ok(await gateway.post(f"{API}/change-windows", json={
            "kind": "maintenance", "name": "patch night", "start": day.isoformat(),
            "end": (day + timedelta(hours=8)).isoformat()}), 201)
        period = {"from": (day - timedelta(days=1)).isoformat(), "to": (day + timedelta(days=1)).isoformat()}
        shown = ok(await agent.get(f"{API}/changes/calendar", params=period))
        ids = [c["id"] for c in shown["changes"]]
        assert planned["id"] in ids and unplanned["id"] not in ids
        assert window["id"] in [w["id"] for w in shown["windows"]]
        problem(await agent.get(f"{API}/changes/calendar", params={
            "from": day.isoformat(), "to": (day + timedelta(days=400)).isoformat()}), 422)
    async with signed_in(platform, "req-k", "requester") as requester:
        problem(await requester.get(f"{API}/changes/calendar", params=period), 403)


async def test_a_person_subscribes_to_the_ics_feed_with_a_feed_key_they_can_revoke(platform, gateway):
    day, ci = a_day(), f"ci-{uuid.uuid4().hex[:8]}"
    async with signed_in(platform, "agent-i", "agent") as agent:
        planned = await scheduled(agent, gateway, [ci], day)
        feed = ok(await agent.post(f"{API}/changes/calendar/feeds"), 201)
        assert feed["owner"] == "agent-i" and feed["url"].endswith(f"/api/v1/changes/calendar.ics?key={feed['key']}")
        listed = ok(await agent.get(f"{API}/changes/calendar/feeds"))
        assert [f["id"] for f in listed] == [feed["id"]] and "key" not in listed[0]

    period = {"from": (day - timedelta(days=1)).isoformat(), "to": (day + timedelta(days=1)).isoformat()}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30) as calendar_app:  # no bearer token
        problem(await calendar_app.get(f"{API}/changes/calendar.ics", params=period), 401)
        problem(await calendar_app.get(f"{API}/changes/calendar.ics", params={**period, "key": "cal_wrong"}), 401)
        subscribed = httpx.URL(feed["url"]).copy_merge_params(period)  # the URL as given, with a period
        got = await calendar_app.get(subscribed)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("text/calendar")
        parsed = icalendar.Calendar.from_ical(got.content)
        events = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
        event = events[f"change-{planned['id']}@changes.itsm"]
        assert str(event["summary"]).startswith(planned["number"])
        assert event.decoded("dtstart") == day and event.decoded("dtend") == day + timedelta(hours=2)
        basic = base64.b64encode(f"agent-i:{feed['key']}".encode()).decode()
        by_password = await calendar_app.get(f"{API}/changes/calendar.ics", params=period,
                                             headers={"authorization": f"Basic {basic}"})
        assert by_password.status_code == 200

        async with signed_in(platform, "agent-j", "agent") as someone_else:
            problem(await someone_else.delete(f"{API}/changes/calendar/feeds/{feed['id']}"), 404)
        async with signed_in(platform, "agent-i", "agent") as agent:
            revoked = ok(await agent.delete(f"{API}/changes/calendar/feeds/{feed['id']}"))
            assert revoked["revoked_at"] is not None
        problem(await calendar_app.get(subscribed), 401)


async def test_a_deployment_is_recorded_once_as_an_implemented_standard_change(platform, gateway):
    key = ok(await gateway.post(f"{API}/integrations", json={"name": f"ci-{uuid.uuid4().hex[:6]}",
                                                             "kind": "deployment"}), 201)["key"]
    alerts = ok(await gateway.post(f"{API}/integrations", json={"name": f"am-{uuid.uuid4().hex[:6]}",
                                                                "kind": "alertmanager"}), 201)["key"]
    started = datetime.now(UTC).replace(microsecond=0)
    body = {"deployment_id": f"run-{uuid.uuid4().hex}", "ci": f"ci-{uuid.uuid4().hex[:8]}", "what": "checkout",
            "version": "1.42.0", "pipeline_url": "https://ci.example.org/runs/42", "started_at": started.isoformat(),
            "finished_at": (started + timedelta(minutes=5)).isoformat(), "outcome": "succeeded"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30) as pipeline:
        problem(await pipeline.post(f"{API}/changes/deployments", json=body), 401)
        problem(await pipeline.post(f"{API}/changes/deployments", json=body, headers={"x-integration-key": alerts}),
                403)
        headers = {"authorization": f"Bearer {key}"}
        problem(await pipeline.post(f"{API}/changes/deployments", json={**body, "outcome": None}, headers=headers), 422)
        first = ok(await pipeline.post(f"{API}/changes/deployments", json=body, headers=headers), 201)
        assert (first["change_type"], first["state"], first["affected_cis"]) == ("standard", "review", [body["ci"]])
        assert first["deployment"]["version"] == "1.42.0" and first["requested_by"].startswith("integration:")
        again = ok(await pipeline.post(f"{API}/changes/deployments", json=body, headers=headers), 200)
        assert again["id"] == first["id"]
    assert await database_scalar("changes", "SELECT count(*) FROM changes WHERE deployment_id = $1",
                                 body["deployment_id"]) == 1
    # "What changed on this CI?"
    listed = ok(await gateway.get(f"{API}/changes", params={"affected_ci": body["ci"]}))
    assert [c["id"] for c in listed["items"]] == [first["id"]]


async def test_a_feed_key_we_never_mint_is_refused_as_unknown_not_a_server_error(platform):
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30) as anyone:
        for key in ("cal_\U0007e5d5" * 4, "not-a-feed-key", "cal_" + "a" * 150):
            refused = await anyone.get(f"{API}/changes/calendar.ics", params={"key": key})
            assert refused.status_code == 401, (key, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
