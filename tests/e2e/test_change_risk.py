"""Change risk from the CI graph and the incident stream, and incidents possibly caused by a change (issue 15),
through the gateway against real Kafka and PostgreSQL. The changes service learns of CIs and incidents only from
their events (its copies of the CMDB and the incidents)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import eventually, read_topic, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
# A Saturday night: outside business hours, so the window adds nothing to the risk.
WINDOW = {"planned_start": "2031-03-01T22:00:00Z", "planned_end": "2031-03-01T23:00:00Z"}
PLANS = {"implementation_plan": "apply the patch", "backout_plan": "restore the snapshot", "test_plan": "smoke tests"}


@pytest.fixture
async def agent(platform):
    async with signed_in(platform, "agent-risk", "agent") as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def if_match(record: dict) -> dict:
    return {"if-match": f'"{record["version"]}"'}


# The attributes a class needs before the CMDB takes a CI of it.
ATTRIBUTES = {"database": {"engine": "postgresql", "endpoint": "db.internal:5432"}}


async def ci(gateway: httpx.AsyncClient, name: str, ci_class: str, criticality: int = 2) -> dict:
    body = {"name": name, "ci_class": ci_class, "criticality": criticality, "attributes": ATTRIBUTES.get(ci_class, {})}
    return ok(await gateway.post(f"{API}/cmdb/cis", json=body), 201)


async def depends(gateway: httpx.AsyncClient, source: dict, target: dict) -> None:
    ok(await gateway.post(f"{API}/cmdb/relationships",
                          json={"source_id": source["id"], "type": "depends_on", "target_id": target["id"]}), 201)


async def services_on(gateway: httpx.AsyncClient, db: dict, tag: str) -> list[dict]:
    """Three business services depending on the database: one directly, two through applications."""
    services = [await ci(gateway, f"{name} {tag}", "business_service") for name in ("Payments", "Orders", "Checkout")]
    apps = [await ci(gateway, f"{name} app {tag}", "application") for name in ("orders", "checkout")]
    await depends(gateway, services[0], db)
    for service, app in zip(services[1:], apps):
        await depends(gateway, service, app)
        await depends(gateway, app, db)
    return services


async def request_change(client: httpx.AsyncClient, **fields) -> dict:
    body = {"short_description": f"patch {uuid.uuid4().hex[:8]}", "change_type": "normal", **WINDOW, **PLANS,
            **fields}
    return ok(await client.post(f"{API}/changes", json=body), 201)


async def open_incident(client: httpx.AsyncClient, ci_id: str, impact: int = 1, urgency: int = 1) -> dict:
    return ok(await client.post(f"{API}/incidents", json={"short_description": "db errors", "affected_ci": ci_id,
                                                          "impact": impact, "urgency": urgency}), 201)


async def rated(client: httpx.AsyncClient, change: dict, risk: str) -> dict:
    async def probe() -> dict:
        shown = ok(await client.get(f"{API}/changes/{change['id']}"))
        assert shown["risk"] == risk, shown["risk_factors"]
        return shown
    return await eventually(probe)


def factor(change: dict, name: str) -> dict:
    [found] = [f for f in change["risk_factors"] if f["name"] == name]
    return found


def events_of(records, subject: str, kind: str) -> list[CloudEvent]:
    return [e for e in map(CloudEvent.from_json, (r.value for r in records)) if e.subject == subject and e.type == kind]


async def test_a_change_on_a_database_three_business_services_depend_on_is_high_with_them_named(gateway, agent):
    tag = uuid.uuid4().hex[:8]
    db = await ci(gateway, f"orders-db {tag}", "database")
    change = await request_change(agent, affected_cis=[db["id"]])
    assert change["risk"] == "low" and change["risk_assessed_at"] and change["version"] == 1

    # The dependants arrive later, as CMDB events: the change is reassessed from them (no call, no PATCH).
    services = await services_on(gateway, db, tag)
    high = await rated(agent, change, "high")
    business = factor(high, "business_services")
    assert business["points"] == 6
    assert all(s["name"] in business["detail"] for s in services), business
    assert "3 business services" in business["detail"]
    # Asked again, it stays the same (and changes no version).
    assert ok(await agent.post(f"{API}/changes/{change['id']}/risk"))["version"] == high["version"]


def very_high(events: list[CloudEvent]) -> list[CloudEvent]:
    return [e for e in events if e.data["risk"] == "very_high"]


async def test_a_p1_incident_on_the_ci_raises_the_risk_before_approval(gateway, agent, infra):
    tag = uuid.uuid4().hex[:8]
    db = await ci(gateway, f"billing-db {tag}", "database")
    await services_on(gateway, db, tag)
    change = await rated(agent, await request_change(agent, affected_cis=[db["id"]]), "high")

    incident = await open_incident(agent, db["id"])
    raised = await rated(agent, change, "very_high")
    p1 = factor(raised, "open_p1_incidents")
    assert incident["number"] in p1["detail"] and p1["points"] == 3

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CHANGES,
                               until=lambda rs: very_high(events_of(rs, change["id"], "itsm.change.risk_assessed")))
    # (the copy may have learnt of the services after the change was requested: low or moderate to high before)
    [event] = very_high(events_of(records, change["id"], "itsm.change.risk_assessed"))
    assert (event.data["previous_risk"], event.data["risk"]) == ("high", "very_high")
    assert {f["name"] for f in event.data["factors"]} == {"business_services", "open_p1_incidents"}

    # Resolved away (canceled here): the risk falls back.
    ok(await agent.post(f"{API}/incidents/{incident['id']}/state", json={"state": "canceled",
                                                                         "reason": "duplicate"}))
    await rated(agent, change, "high")


async def test_a_patch_of_the_affected_cis_or_the_window_reassesses(gateway, agent):
    tag = uuid.uuid4().hex[:8]
    db = await ci(gateway, f"crm-db {tag}", "database")
    await services_on(gateway, db, tag)
    other = await ci(gateway, f"lonely-db {tag}", "database")
    change = await rated(agent, await request_change(agent, affected_cis=[other["id"]]), "low")
    await rated(agent, change, "low")  # the CMDB copy knows the services by now (the other test waited the same)

    async def patched_high() -> dict:
        current = ok(await agent.get(f"{API}/changes/{change['id']}"))
        moved = ok(await agent.patch(f"{API}/changes/{change['id']}", headers=if_match(current),
                                     json={"affected_cis": [db["id"]] if current["affected_cis"] != [db["id"]]
                                           else [db["id"], other["id"]]}))
        assert moved["risk"] == "high", moved["risk_factors"]
        return moved
    patched = await eventually(patched_high)
    # Into business hours (a Tuesday afternoon): two points more, very high.
    weekday = ok(await agent.patch(f"{API}/changes/{change['id']}", headers=if_match(patched), json={
        "planned_start": "2031-03-04T14:00:00Z", "planned_end": "2031-03-04T15:00:00Z"}))
    assert weekday["risk"] == "very_high" and factor(weekday, "business_hours")["points"] == 2


async def implemented(gateway: httpx.AsyncClient, agent: httpx.AsyncClient, cis: list[str]) -> dict:
    """A standard change (from a template: no approval) walked to implement."""
    template = ok(await gateway.post(f"{API}/change-templates", json={
        "name": f"db patch {uuid.uuid4().hex[:8]}", "short_description": "monthly db patch", **PLANS}), 201)
    change = await request_change(agent, change_type="standard", template_id=template["id"], affected_cis=cis)
    for state in ("scheduled", "implement"):
        change = ok(await agent.post(f"{API}/changes/{change['id']}/state", json={"state": state},
                                     headers=if_match(change)))
    assert change["implemented_at"]
    return change


async def test_an_incident_on_the_changed_ci_after_implementation_is_suspected(gateway, agent, infra):
    tag = uuid.uuid4().hex[:8]
    db = await ci(gateway, f"ledger-db {tag}", "database")
    app = await ci(gateway, f"ledger app {tag}", "application")
    await depends(gateway, app, db)
    unrelated = await ci(gateway, f"wiki {tag}", "application")
    change = await implemented(gateway, agent, [db["id"]])
    risk = change["risk"]

    on_app = await open_incident(agent, app["id"], impact=2, urgency=2)  # depends on the changed CI
    await open_incident(agent, unrelated["id"])
    on_db = await open_incident(agent, db["id"])  # a P1 on the CI: suspected, and the approved risk stays

    async def suspected() -> dict:
        shown = ok(await agent.get(f"{API}/changes/{change['id']}"))
        assert len(shown["suspected_incidents"]) == 2, shown["suspected_incidents"]
        return shown
    shown = await eventually(suspected)
    assert {(s["incident_id"], s["number"], s["affected_ci"]) for s in shown["suspected_incidents"]} == {
        (on_app["id"], on_app["number"], app["id"]), (on_db["id"], on_db["number"], db["id"])}
    assert shown["risk"] == risk

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.CHANGES,
                               until=lambda rs: len(events_of(rs, change["id"], "itsm.change.incident_suspected")) == 2)
    events = events_of(records, change["id"], "itsm.change.incident_suspected")
    assert {e.data["incident_id"] for e in events} == {on_app["id"], on_db["id"]}


async def test_a_change_before_implementation_suspects_nothing(gateway, agent):
    tag = uuid.uuid4().hex[:8]
    db = await ci(gateway, f"queue-db {tag}", "database")
    change = await request_change(agent, affected_cis=[db["id"]])
    incident = await open_incident(agent, db["id"], impact=3, urgency=3)
    later = await implemented(gateway, agent, [db["id"]])  # implemented after the incident opened
    witness = await open_incident(agent, db["id"], impact=3, urgency=3)

    async def seen() -> dict:
        shown = ok(await agent.get(f"{API}/changes/{later['id']}"))
        assert shown["suspected_incidents"], "not heard of yet"
        return shown
    assert [s["incident_id"] for s in (await eventually(seen))["suspected_incidents"]] == [witness["id"]]
    assert incident["id"] not in [s["incident_id"] for s in later["suspected_incidents"]]
    assert ok(await agent.get(f"{API}/changes/{change['id']}"))["suspected_incidents"] == []


async def test_failed_changes_on_the_ci_add_to_the_risk_and_the_success_rate_counts_close_codes(gateway, agent,
                                                                                                  platform):
    tag = uuid.uuid4().hex[:8]
    db = await ci(gateway, f"search-db {tag}", "database")
    group = f"dba-{tag}"
    for code in ("backed_out", "successful"):
        change = await implemented(gateway, agent, [db["id"]])
        change = ok(await agent.patch(f"{API}/changes/{change['id']}", headers=if_match(change),
                                      json={"assignment_group": group}))
        change = ok(await agent.post(f"{API}/changes/{change['id']}/state", json={"state": "review"},
                                     headers=if_match(change)))
        ok(await agent.post(f"{API}/changes/{change['id']}/close", headers=if_match(change),
                            json={"close_code": code, "close_notes": f"{code} in the end"}))

    fresh = await request_change(agent, affected_cis=[db["id"]])
    failed = factor(fresh, "failed_changes")
    assert failed["points"] == 2 and "backed out" in failed["detail"]

    by_group = ok(await agent.get(f"{API}/reports/changes/success-rate", params={"by": "assignment_group"}))
    [row] = [r for r in by_group["rows"] if r["key"] == group]
    assert (row["closed"], row["successful"], row["backed_out"], row["success_rate"]) == (2, 1, 1, 0.5)
    by_ci = ok(await agent.get(f"{API}/reports/changes/success-rate", params={"by": "ci"}))
    assert [r["closed"] for r in by_ci["rows"] if r["key"] == db["id"]] == [2]
    assert ok(await agent.get(f"{API}/reports/changes/success-rate"))["by"] == "change_type"
    assert (await agent.get(f"{API}/reports/changes/success-rate", params={"by": "nope"})).status_code == 422
    async with signed_in(platform, "req-risk", "requester") as requester:
        assert (await requester.get(f"{API}/reports/changes/success-rate")).status_code == 403
        assert (await requester.post(f"{API}/changes/{fresh['id']}/risk")).status_code == 403
