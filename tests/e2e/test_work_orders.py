"""Work-order templates (issue 17) through the gateway, against the real services, PostgreSQL and Kafka: an admin
makes templates, an agent previews one on a record (nothing changes) and applies it (its tasks exist at once, the
record's fields follow from its own service, whose timeline names the template); bad templates, another record
type's template, an inactive one and unknown records are refused with nothing written."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.helpers import database_scalar, eventually, if_match, ok, problem, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
NETWORK = {"category": "network", "impact": 1, "urgency": 2, "assignment_group": "network-ops"}
TASKS = [{"name": "Check the core switches", "description": "both sites", "assignment_group": "network-ops"},
         {"name": "Tell the service owners", "assignment_group": "service-desk"}]


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


@pytest.fixture
async def templates(gateway):
    """Makes work-order templates as an admin; removes them afterwards (names are unique platform-wide)."""
    made: list[dict] = []

    async def make(**body) -> dict:
        template = ok(await gateway.post(f"{API}/work-order-templates", json=body), 201)
        made.append(template)
        return template

    yield make
    for template in made:
        current = await gateway.get(f"{API}/work-order-templates/{template['id']}")
        if current.status_code == 200:
            await gateway.delete(f"{API}/work-order-templates/{template['id']}", headers=if_match(current.json()))


async def open_incident(client: httpx.AsyncClient) -> dict:
    return ok(await client.post(f"{API}/incidents", json={
        "short_description": unique("the WAN is down"), "category": "software", "impact": 1, "urgency": 3}), 201)


async def tasks_of(client: httpx.AsyncClient, record_type: str, record_id: str) -> list[dict]:
    return ok(await client.get(f"{API}/tasks", params={"record_type": record_type, "record_id": record_id}))["items"]


async def written() -> tuple:
    """What a work order writes in the requests service: tasks, and itsm.work_order.applied in its outbox."""
    return (await database_scalar("requests", "SELECT count(*) FROM tasks"),
            await database_scalar("requests", "SELECT count(*) FROM outbox WHERE convert_from(payload, 'UTF8') "
                                              "LIKE '%\"type\":\"itsm.work_order.applied\"%'"))


@pytest.fixture
async def task_rule(gateway):
    """A dispatch rule (first in order) that gives tasks of records in a category of their own to network-ops."""
    category = unique("network").replace(" ", "-")
    rule = ok(await gateway.post(f"{API}/dispatch/rules", json={
        "name": unique("work-order tasks"), "position": 1, "record_types": ["task"],
        "conditions": {"category": [category]}, "assignment_group": "network-ops"}), 201)
    yield category, rule
    current = await gateway.get(f"{API}/dispatch/rules/{rule['id']}")
    if current.status_code == 200:
        await gateway.delete(f"{API}/dispatch/rules/{rule['id']}", headers=if_match(current.json()))


async def test_an_agent_previews_an_incident_template_then_applies_it(platform, templates, task_rule):
    category, rule = task_rule
    fields = {**NETWORK, "category": category}
    # The second task has no group: the dispatch rules choose it, seeing the category the template sets.
    tasks = [TASKS[0], {"name": "Tell the service owners"}]
    template = await templates(name=unique("Network outage"), record_type="incident", fields=fields, tasks=tasks,
                               description="the WAN or the core is down")
    async with signed_in(platform, "agent-wo", "agent") as agent:
        incident = await open_incident(agent)
        path = f"{API}/incidents/{incident['id']}/work-orders"

        preview = ok(await agent.post(f"{path}/preview", json={"template": template["name"]}))
        assert preview["template"] == template["name"] and preview["record_version"] == incident["version"]
        assert [(f["field"], f["from"], f["to"], f["changed"]) for f in preview["fields"]] == [
            ("category", "software", category, True), ("impact", 1, 1, False), ("urgency", 3, 2, True),
            ("assignment_group", None, "network-ops", True)]
        assert [(t["name"], t["assignment_group"], t["dispatch_rule"]) for t in preview["tasks"]] == [
            ("Check the core switches", "network-ops", None), ("Tell the service owners", "network-ops", rule["name"])]
        # A preview writes nothing.
        unchanged = ok(await agent.get(f"{API}/incidents/{incident['id']}"))
        assert (unchanged["category"], unchanged["version"]) == ("software", incident["version"])
        assert await tasks_of(agent, "incident", incident["id"]) == []

        applied = ok(await agent.post(path, json={"template": template["id"]}, headers=if_match(incident)), 202)
        assert applied["fields"] == fields
        assert [(t["name"], t["assignment_group"], t["state"]) for t in applied["tasks"]] == [
            ("Check the core switches", "network-ops", "open"), ("Tell the service owners", "network-ops", "open")]
        listed = await tasks_of(agent, "incident", incident["id"])
        assert sorted(t["id"] for t in listed) == sorted(t["id"] for t in applied["tasks"])

        async def fields_set() -> None:
            now = ok(await agent.get(f"{API}/incidents/{incident['id']}"))
            assert {name: now[name] for name in fields} == fields

        await eventually(fields_set)
        activity = ok(await agent.get(f"{API}/incidents/{incident['id']}/activity"))["items"]
        assert any(template["name"] in str(entry) for entry in activity), activity


async def test_a_change_template_sets_its_plan_and_adds_its_task(platform, gateway, templates):
    template = await templates(name=unique("Patch Tuesday"), record_type="change",
                               fields={"implementation_plan": "patch, reboot, check", "assignment_group": "windows"},
                               tasks=[{"name": "Snapshot the servers", "assignment_group": "windows"}])
    change = ok(await gateway.post(f"{API}/changes", json={"short_description": unique("patch"),
                                                           "change_type": "normal"}), 201)
    async with signed_in(platform, "agent-wo", "agent") as agent:
        path = f"{API}/changes/{change['id']}/work-orders"
        preview = ok(await agent.post(f"{path}/preview", json={"template": template["name"]}))
        assert [(f["field"], f["from"], f["to"]) for f in preview["fields"]] == [
            ("assignment_group", None, "windows"), ("implementation_plan", None, "patch, reboot, check")]
        applied = ok(await agent.post(path, json={"template": template["name"]}), 202)
        assert [t["name"] for t in await tasks_of(agent, "change", change["id"])] == ["Snapshot the servers"]
        assert [t["name"] for t in applied["tasks"]] == ["Snapshot the servers"]

        async def plan_set() -> None:
            now = ok(await agent.get(f"{API}/changes/{change['id']}"))
            assert (now["implementation_plan"], now["assignment_group"]) == ("patch, reboot, check", "windows")

        await eventually(plan_set)


async def test_a_request_template_adds_its_tasks_to_a_request(platform, gateway, templates):
    template = await templates(name=unique("Desk move"), record_type="request", tasks=TASKS)
    category = ok(await gateway.post(f"{API}/catalog/categories", json={"name": unique("Workplace")}), 201)
    item = ok(await gateway.post(f"{API}/catalog/items", json={
        "name": unique("Desk phone"), "category_id": category["id"], "short_description": "a phone"}), 201)
    async with signed_in(platform, "requester-wo", "requester") as requester:
        request = ok(await requester.post(f"{API}/requests", json={"items": [{"catalog_item_id": item["id"]}]}), 201)
        path = f"{API}/requests/{request['id']}/work-orders"
        problem(await requester.post(path, json={"template": template["id"]}), 403)  # agents apply templates
    async with signed_in(platform, "agent-wo", "agent") as agent:
        preview = ok(await agent.post(f"{path}/preview", json={"template": template["name"]}))
        assert preview["fields"] == [] and [t["name"] for t in preview["tasks"]] == [t["name"] for t in TASKS]
        applied = ok(await agent.post(path, json={"template": template["name"]}), 202)
        assert applied["fields"] == {}
        listed = await tasks_of(agent, "request", request["id"])
        assert sorted(t["name"] for t in listed) == sorted(t["name"] for t in TASKS)


async def test_what_a_records_patch_would_refuse_makes_no_template(gateway, templates):
    name = unique("Bad")
    for fields, says in (({"impact": 7}, "would refuse"), ({"priority": 1}, "cannot set priority"),
                         ({"impact": None}, "cannot be emptied")):
        refused = problem(await gateway.post(f"{API}/work-order-templates", json={
            "name": name, "record_type": "incident", "fields": fields}), 422)
        assert says in refused["detail"]
    problem(await gateway.post(f"{API}/work-order-templates", json={
        "name": name, "record_type": "request", "fields": {"short_description": "x"}, "tasks": TASKS}), 422)
    listed = ok(await gateway.get(f"{API}/work-order-templates", params={"record_type": "incident"}))["items"]
    assert name not in [t["name"] for t in listed]

    template = await templates(name=name, record_type="incident", fields=NETWORK)
    problem(await gateway.post(f"{API}/work-order-templates", json={
        "name": name, "record_type": "change", "tasks": TASKS}), 409)  # the name is taken
    stale = {"if-match": f'"{template["version"] + 1}"'}
    problem(await gateway.patch(f"{API}/work-order-templates/{template['id']}", json={"active": False},
                                headers=stale), 412)
    problem(await gateway.patch(f"{API}/work-order-templates/{template['id']}", json={"fields": {"urgency": 0}},
                                headers=if_match(template)), 422)
    assert ok(await gateway.get(f"{API}/work-order-templates/{template['id']}")) == template


async def test_agents_read_templates_and_only_admins_write_them(platform, templates):
    template = await templates(name=unique("Read only"), record_type="request", tasks=TASKS)
    async with signed_in(platform, "agent-wo", "agent") as agent:
        read = ok(await agent.get(f"{API}/work-order-templates/{template['id']}"))
        assert read["tasks"][0]["name"] == TASKS[0]["name"]
        problem(await agent.post(f"{API}/work-order-templates", json={
            "name": unique("Mine"), "record_type": "request", "tasks": TASKS}), 403)
        problem(await agent.delete(f"{API}/work-order-templates/{template['id']}"), 403)
    async with signed_in(platform, "requester-wo", "requester") as requester:
        problem(await requester.get(f"{API}/work-order-templates"), 403)


async def test_a_template_that_cannot_be_applied_writes_nothing(platform, templates):
    incidents = await templates(name=unique("Outage"), record_type="incident", fields=NETWORK, tasks=TASKS)
    changes = await templates(name=unique("Reboot"), record_type="change", tasks=TASKS)
    retired = await templates(name=unique("Retired"), record_type="incident", tasks=TASKS, active=False)
    async with signed_in(platform, "agent-wo", "agent") as agent:
        incident = await open_incident(agent)
        path = f"{API}/incidents/{incident['id']}/work-orders"
        before = await written()
        for suffix in ("/preview", ""):
            problem(await agent.post(path + suffix, json={"template": unique("No such template")}), 422)
            refused = problem(await agent.post(path + suffix, json={"template": changes["id"]}), 422)
            assert "is for changes, not incidents" in refused["detail"]
            problem(await agent.post(path + suffix, json={"template": retired["id"]}), 409)
            problem(await agent.post(f"{API}/incidents/no-such-incident/work-orders{suffix}",
                                     json={"template": incidents["id"]}), 404)
            problem(await agent.post(f"{API}/changes/no-such-change/work-orders{suffix}",
                                     json={"template": changes["id"]}), 404)
        assert await written() == before
        assert await tasks_of(agent, "incident", incident["id"]) == []
    async with signed_in(platform, "requester-wo", "requester") as requester:
        problem(await requester.post(f"{path}/preview", json={"template": incidents["id"]}), 403)


async def test_a_template_is_applied_only_over_the_version_the_agent_saw(platform, templates):
    template = await templates(name=unique("Outage"), record_type="incident", fields=NETWORK, tasks=TASKS)
    async with signed_in(platform, "agent-wo", "agent") as agent:
        incident = await open_incident(agent)
        path = f"{API}/incidents/{incident['id']}/work-orders"
        seen = ok(await agent.post(f"{path}/preview", json={"template": template["id"]}))["record_version"]
        ok(await agent.patch(f"{API}/incidents/{incident['id']}", json={"subcategory": "wan"},
                             headers=if_match(incident)))  # someone changes it after the preview
        before = await written()
        refused = problem(await agent.post(path, json={"template": template["id"]},
                                           headers={"if-match": f'"{seen}"'}), 412)
        assert refused["current_version"] == seen + 1
        assert await written() == before
