"""SLAs end to end through the gateway: definitions and calendars, timers driven by incident
events, breaches announced at the due moment (once, across a restart) and escalated.

Every definition here applies only to incidents of a business service of its own, so the
incidents of other tests keep just the default timers.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from itsm_sla.domain import Calendar
from tests.helpers import eventually, read_topic, token

pytestmark = pytest.mark.e2e

OFFICE = {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}],
          "wednesday": [{"start": "08:00", "end": "16:00"}]}


def service() -> str:
    return f"svc-{uuid.uuid4().hex[:10]}"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


async def define(gateway, business_service: str, **fields) -> dict:
    body = {"name": f"SLA {business_service}", "applies_to": {"business_services": [business_service]},
            "resolution": {"target": "PT1H"}, **fields}
    created = await gateway.post("/api/v1/sla/definitions", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def open_incident(gateway, business_service: str, **fields) -> dict:
    created = await gateway.post("/api/v1/incidents", json={"short_description": f"SLA test {business_service}",
                                                            "business_service": business_service, **fields})
    assert created.status_code == 201, created.text
    return created.json()


async def timers_of(gateway, incident_id: str, definition_id: str | None = None, kind: str | None = None) -> list[dict]:
    response = await gateway.get("/api/v1/sla/timers", params={"incident_id": incident_id})
    assert response.status_code == 200, response.text
    return [t for t in response.json()["items"] if definition_id in (None, t["definition_id"])
            and kind in (None, t["kind"])]


async def one_timer(gateway, incident_id: str, definition_id: str, kind: str = "resolution", **expected) -> dict:
    """The incident's timer of this definition and kind, once it has the `expected` values."""
    async def found() -> dict:
        timers = await timers_of(gateway, incident_id, definition_id, kind)
        assert len(timers) == 1, timers
        timer = timers[0]
        for name, value in expected.items():
            assert timer[name] == value, (name, timer)
        return timer

    return await eventually(found, timeout=20)


async def move(gateway, incident_id: str, state: str, **fields) -> dict:
    response = await gateway.post(f"/api/v1/incidents/{incident_id}/state", json={"state": state, **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def breaches_of(bootstrap: str, timer_id: str, settle: float = 0) -> list[CloudEvent]:
    """The itsm.sla.breached events of a timer on Kafka, once at least one is there (and `settle` s more)."""
    def mine(records) -> list[CloudEvent]:
        events = [CloudEvent.from_json(r.value) for r in records]
        return [e for e in events if e.type == "itsm.sla.breached" and e.subject == timer_id]

    await read_topic(bootstrap, topics.SLA, until=lambda rs: bool(mine(rs)), timeout=30)
    if settle:
        await asyncio.sleep(settle)
    return mine(await read_topic(bootstrap, topics.SLA, until=lambda rs: bool(mine(rs)), timeout=30))


# -- definitions and calendars -----------------------------------------------------------------------

async def test_the_default_set_is_seeded_one_definition_per_priority(gateway):
    items = (await gateway.get("/api/v1/sla/definitions")).json()["items"]
    defaults = {d["id"]: d for d in items if d["id"].startswith("default-p")}
    assert sorted(defaults) == [f"default-p{p}" for p in range(1, 6)]
    p1 = defaults["default-p1"]
    assert p1["response"]["target"] == "PT15M" and p1["resolution"]["target"] == "PT4H"
    assert p1["calendar_id"] is None and p1["warning_thresholds"] == [50, 75, 90]
    assert p1["resolution"]["pause_states"] == ["on_hold"] and p1["resolution"]["on_reopen"] == "resume"


async def test_a_definition_is_created_read_replaced_with_if_match_and_deleted_by_an_admin(gateway, platform):
    svc = service()
    created = await define(gateway, svc, response={"target": 600})
    assert created["version"] == 1 and created["response"]["target"] == "PT10M"
    assert created["response"]["stop_on_assignment"] is True  # defaults spelled out
    path = f"/api/v1/sla/definitions/{created['id']}"
    read = await gateway.get(path)
    assert read.status_code == 200 and read.headers["etag"] == '"1"'

    replacement = {"name": "Gold", "applies_to": {"business_services": [svc]}, "resolution": {"target": "PT2H"},
                   "escalation_group": "gold-desk"}
    assert_problem(await gateway.put(path, json=replacement, headers={"if-match": '"7"'}), 412)
    replaced = await gateway.put(path, json=replacement, headers={"if-match": '"1"'})
    assert replaced.status_code == 200 and replaced.json()["version"] == 2 and replaced.json()["response"] is None

    agent = {"authorization": f"Bearer {token('agent-2', roles=['agent'])}"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), headers=agent) as as_agent:
        assert (await as_agent.get(path)).status_code == 200
        assert_problem(await as_agent.put(path, json=replacement), 403)

    assert (await gateway.delete(path)).status_code == 204
    assert_problem(await gateway.get(path), 404)


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/api/v1/sla/calendars", {"name": "x", "timezone": "Mars/Olympus_Mons", "hours": OFFICE}, "unknown timezone"),
        ("/api/v1/sla/calendars", {"name": "x", "timezone": "Europe/Paris", "hours": {
            "monday": [{"start": "09:00", "end": "12:30"}, {"start": "12:00", "end": "17:00"}]}}, "overlap"),
        ("/api/v1/sla/calendars", {"name": "x", "timezone": "UTC", "hours": {"funday": []}}, "funday"),
        ("/api/v1/sla/definitions", {"name": "x", "resolution": {"target": "-PT1H"}}, "positive"),
        ("/api/v1/sla/definitions", {"name": "x", "resolution": {"target": -5}}, "positive"),
        ("/api/v1/sla/definitions", {"name": "x", "resolution": {"target": "PT1H", "start_states": ["resolved"]}},
         "never attach"),
        ("/api/v1/sla/definitions", {"name": "x", "resolution": {"target": "PT1H"}, "calendar_id": "nope"},
         "does not exist"),
        ("/api/v1/sla/definitions", {"name": "x", "resolution": {"target": "PT1H"}, "warning_thresholds": [90, 50]},
         "increasing"),
        ("/api/v1/sla/definitions", {"name": "x"}, "response or a resolution"),
    ],
)
async def test_bad_input_is_a_422_problem_and_changes_nothing(gateway, path, body, says):
    before = (await gateway.get(path)).json()
    problem = assert_problem(await gateway.post(path, json=body), 422)
    assert says in problem["detail"]
    assert (await gateway.get(path)).json() == before


async def test_a_definition_on_a_business_calendar_is_due_in_business_time(gateway):
    svc = service()
    calendar_body = {"name": f"Office {svc}", "timezone": "America/New_York", "hours": OFFICE,
                     "holidays": [{"date": "2026-12-25", "name": "Christmas"}]}
    calendar = await gateway.post("/api/v1/sla/calendars", json=calendar_body)
    assert calendar.status_code == 201, calendar.text
    definition = await define(gateway, svc, calendar_id=calendar.json()["id"], resolution={"target": "PT6H"})
    incident = await open_incident(gateway, svc)
    timer = await one_timer(gateway, incident["id"], definition["id"])
    hours = {day: [(w["start"], w["end"]) for w in windows] for day, windows in OFFICE.items()}
    expected = Calendar.create("America/New_York", hours).add(ts(timer["started_at"]), timedelta(hours=6))
    assert ts(timer["due_at"]) == expected and timer["calendar_id"] == calendar.json()["id"]
    in_use = await gateway.delete(f"/api/v1/sla/calendars/{calendar.json()['id']}")
    assert "use calendar" in assert_problem(in_use, 409)["detail"]


# -- timers driven by incident events -------------------------------------------------------------------

async def test_an_incident_on_hold_then_resumed_is_due_later_by_the_time_on_hold(gateway):
    svc = service()
    definition = await define(gateway, svc, resolution={"target": "PT1H"})
    incident = await open_incident(gateway, svc)
    timer = await one_timer(gateway, incident["id"], definition["id"], stage="in_progress")
    assert ts(timer["due_at"]) == ts(timer["started_at"]) + timedelta(hours=1)

    await move(gateway, incident["id"], "on_hold", hold_reason="awaiting_vendor")
    paused = await one_timer(gateway, incident["id"], definition["id"], stage="paused")
    await asyncio.sleep(1.5)
    await move(gateway, incident["id"], "in_progress")
    resumed = await one_timer(gateway, incident["id"], definition["id"], stage="in_progress")

    running, held, again = resumed["segments"]
    assert [running["state"], held["state"], again["state"]] == ["running", "paused", "running"]
    on_hold_for = ts(held["ended_at"]) - ts(held["started_at"])
    assert on_hold_for >= timedelta(seconds=1.5) and resumed["paused_seconds"] == on_hold_for.total_seconds()
    assert ts(resumed["due_at"]) == ts(resumed["started_at"]) + timedelta(hours=1) + on_hold_for
    # each segment names the incident event that began it; the hold's reason says why
    assert held["reason"] == "new -> on_hold (awaiting_vendor)" and held["started_by"] == running["ended_by"]
    assert held["ended_by"] == again["started_by"] and paused["segments"][-1]["ended_at"] is None


async def test_a_priority_change_cancels_the_old_timers_and_starts_the_new_ones_from_the_opening(gateway):
    incident = await open_incident(gateway, service(), impact=3, urgency=3)
    await one_timer(gateway, incident["id"], "default-p5", kind="resolution")
    response = await gateway.patch(f"/api/v1/incidents/{incident['id']}", json={"impact": 1, "urgency": 1})
    assert response.json()["priority"] == 1

    async def retargeted():
        timers = {(t["definition_id"], t["kind"]): t for t in await timers_of(gateway, incident["id"])}
        assert timers[("default-p5", "resolution")]["stage"] == "cancelled"
        new = timers[("default-p1", "resolution")]
        assert new["stage"] == "in_progress" and new["priority"] == 1
        return new

    new = await eventually(retargeted)
    assert ts(new["started_at"]) == ts(incident["opened_at"])
    assert ts(new["due_at"]) == ts(incident["opened_at"]) + timedelta(hours=4)


async def test_repair_applies_a_changed_definition_and_keeps_the_time_on_hold(gateway):
    svc = service()
    definition = await define(gateway, svc, resolution={"target": "PT1H"})
    incident = await open_incident(gateway, svc)
    await one_timer(gateway, incident["id"], definition["id"])
    await move(gateway, incident["id"], "on_hold", hold_reason="awaiting_caller", comment="Which laptop?")
    await one_timer(gateway, incident["id"], definition["id"], stage="paused")
    await asyncio.sleep(1)
    await move(gateway, incident["id"], "in_progress")
    before = await one_timer(gateway, incident["id"], definition["id"], stage="in_progress")

    changed = await gateway.put(f"/api/v1/sla/definitions/{definition['id']}", headers={"if-match": '"1"'},
                                json={"name": "Longer", "applies_to": {"business_services": [svc]},
                                      "resolution": {"target": "PT3H"}})
    assert changed.status_code == 200
    untouched = await one_timer(gateway, incident["id"], definition["id"])
    assert untouched["target_seconds"] == 3600  # open timers keep their version until a repair

    repaired = await gateway.post("/api/v1/sla/repair", json={"definition_id": definition["id"]})
    assert repaired.status_code == 200 and repaired.json() == {"incidents": 1, "timers_started": 0,
                                                              "timers_changed": 1, "timers_cancelled": 0}
    after = await one_timer(gateway, incident["id"], definition["id"])
    assert after["definition_version"] == 2 and after["target_seconds"] == 3 * 3600
    assert after["segments"] == [dict(s, business_seconds=a["business_seconds"])
                                 for s, a in zip(before["segments"], after["segments"])]
    assert ts(after["due_at"]) == ts(before["due_at"]) + timedelta(hours=2)  # the hold still counted out once
    again = await gateway.post("/api/v1/sla/repair", json={"definition_id": definition["id"]})
    assert again.json()["timers_changed"] == 0


# -- breaches --------------------------------------------------------------------------------------------

async def test_a_breach_is_announced_at_the_due_moment_and_escalates_the_incident(gateway, infra):
    svc = service()
    definition = await define(gateway, svc, resolution={"target": "PT2S"}, escalation_group="major-incidents",
                              warning_thresholds=[50])
    incident = await open_incident(gateway, svc, assignment_group="service-desk")
    timer = await one_timer(gateway, incident["id"], definition["id"])

    [breach] = await breaches_of(infra["ITSM_KAFKA_BOOTSTRAP"], timer["id"])
    data = breach.data
    assert ts(data["breached_at"]) == ts(timer["due_at"])
    assert ts(data["detected_at"]) - ts(data["breached_at"]) < timedelta(seconds=1)
    assert data["escalation_group"] == "major-incidents" and data["policy"] == definition["name"]

    async def escalated():
        found = (await gateway.get(f"/api/v1/incidents/{incident['id']}")).json()
        assert found["escalated"] is True and found["escalation_group"] == "major-incidents"
        return found

    found = await eventually(escalated)
    assert found["assignment_group"] == "service-desk"
    [breached_timer] = [t for t in found["sla_timers"] if t["id"] == timer["id"]]
    assert breached_timer["breached"] and breached_timer["stage"] == "in_progress"  # it runs on to its stop
    assert breached_timer["notified_percent"] == 100 and breached_timer["percent"] >= 100
    activity = (await gateway.get(f"/api/v1/incidents/{incident['id']}/activity")).json()["items"]
    notes = [a["text"] for a in activity if a["kind"] == "work_note"]
    assert len(notes) == 1 and notes[0].startswith(f"SLA breached: resolution target of {definition['name']} (2s)")
    listed = (await gateway.get("/api/v1/incidents", params={"escalated": "true", "business_service": svc})).json()
    assert [i["id"] for i in listed["items"]] == [incident["id"]]


async def test_a_breach_while_the_sla_service_is_down_is_announced_once_after_the_restart(gateway, platform, infra):
    svc = service()
    definition = await define(gateway, svc, resolution={"target": "PT3S"}, warning_thresholds=[50, 75])
    incident = await open_incident(gateway, svc)
    timer = await one_timer(gateway, incident["id"], definition["id"])
    platform.kill("sla")
    try:
        await asyncio.sleep(max((ts(timer["due_at"]) - datetime.now(UTC)).total_seconds(), 0) + 1)
    finally:
        platform.start(["sla"])
    breaches = await breaches_of(infra["ITSM_KAFKA_BOOTSTRAP"], timer["id"], settle=3)
    assert len(breaches) == 1
    assert ts(breaches[0].data["breached_at"]) == ts(timer["due_at"])
    warnings = [CloudEvent.from_json(r.value) for r in await read_topic(
        infra["ITSM_KAFKA_BOOTSTRAP"], topics.SLA, until=lambda rs: True)]
    # caught up after the outage: the breach alone, not the warnings it passed
    assert not [e for e in warnings if e.type == "itsm.sla.warning" and e.subject == timer["id"]]

    async def one_note():
        activity = (await gateway.get(f"/api/v1/incidents/{incident['id']}/activity")).json()["items"]
        assert sum(a["kind"] == "work_note" and a["text"].startswith("SLA breached") for a in activity) == 1

    await eventually(one_note)


# -- reports ------------------------------------------------------------------------------------------------

async def test_compliance_by_definition_and_the_at_risk_list(gateway, infra):
    svc = service()
    started = datetime.now(UTC) - timedelta(seconds=1)
    relaxed = await define(gateway, svc, resolution={"target": "PT1H"})
    tight = await define(gateway, svc, name=f"Tight {svc}", resolution={"target": "PT1S"})
    met, late, open_late = [await open_incident(gateway, svc) for _ in range(3)]
    late_timer = await one_timer(gateway, late["id"], tight["id"])
    open_timer = await one_timer(gateway, open_late["id"], tight["id"])
    await breaches_of(infra["ITSM_KAFKA_BOOTSTRAP"], late_timer["id"])
    await breaches_of(infra["ITSM_KAFKA_BOOTSTRAP"], open_timer["id"])
    for incident in (met, late):
        response = await gateway.post(f"/api/v1/incidents/{incident['id']}/resolve",
                                      json={"resolution_code": "fixed", "resolution_notes": "done"})
        assert response.status_code == 200

    async def report():
        params = {"from": started.isoformat(), "before": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
                  "group_by": ["definition"], "business_service": svc, "priority": [5], "kind": "resolution"}
        body = (await gateway.get("/api/v1/sla/reports/compliance", params=params)).json()
        rows = {r["definition_id"]: (r["total"], r["met"], r["breached"], r["compliance_percent"])
                for r in body["rows"]}
        assert rows == {"default-p5": (2, 2, 0, 100.0), relaxed["id"]: (2, 2, 0, 100.0),
                        tight["id"]: (2, 0, 2, 0.0)}, body
        assert body["overall"]["total"] == 6 and body["overall"]["compliance_percent"] == 66.67

    await eventually(report)
    at_risk = (await gateway.get("/api/v1/sla/reports/at-risk", params={"business_service": svc})).json()["items"]
    assert [t["id"] for t in at_risk] == [open_timer["id"]] and at_risk[0]["percent"] >= 100
