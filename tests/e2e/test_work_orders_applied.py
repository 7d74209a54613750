"""Issue 17: a work-order template applied to an incident or a change (itsm.work_order.applied on itsm.requests), as
the owning service takes it, through the gateway: the template's fields set as an agent's PATCH would, a timeline
line naming the template and its tasks; a field the record does not take, or refuses now, is skipped and said (the
event never fails); a resolved incident changes nothing.

The events are put on Kafka here as the requests service's relay does, so these tests hold whatever its templates
would send (its own tests cover applying a template there).
"""

from __future__ import annotations

import uuid

import pytest

from itsm_contracts.events.requests import WorkOrderApplied
from itsm_kit.clock import utcnow
from tests.helpers import database_scalar, eventually, ok, publishing, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"


@pytest.fixture
async def apply_template(infra):
    async with publishing(infra["ITSM_KAFKA_BOOTSTRAP"], "itsm/requests") as publish:
        async def send(record_type: str, record_id: str, fields: dict, *, template: str = "VPN outage",
                       tasks: tuple[str, ...] = ("TASK0001001", "TASK0001002")) -> str:
            applied = WorkOrderApplied(template=template, record_type=record_type, record_id=record_id,
                                       fields=fields, task_ids=[str(uuid.uuid4()) for _ in tasks],
                                       task_numbers=list(tasks), applied_at=utcnow(), actor="agent-wo")
            return (await publish(applied, subject=record_id)).id

        yield send


@pytest.fixture
async def agent(platform):
    async with signed_in(platform, f"agent-{uuid.uuid4().hex[:8]}", "agent") as client:
        yield client


async def work_notes(agent, path: str) -> list[tuple[str, str]]:
    items = ok(await agent.get(f"{path}/activity", params={"limit": 200}))["items"]
    return [(a["text"], a["actor"]) for a in items if a["kind"] == "work_note"]


async def noted(agent, path: str, prefix: str) -> str:
    async def probe():
        found = [text for text, _ in await work_notes(agent, path) if text.startswith(prefix)]
        assert found
        return found[0]
    return await eventually(probe)


async def handled(database: str, event_id: str) -> None:
    async def probe():
        outcome = await database_scalar(database, "SELECT outcome FROM inbox WHERE event_id = $1", event_id)
        assert outcome == "handled"
    await eventually(probe)


async def test_a_template_sets_an_incidents_fields_and_says_so_on_its_timeline(agent, apply_template):
    opened = ok(await agent.post(f"{API}/incidents", json={"short_description": f"VPN {uuid.uuid4().hex[:8]}"}), 201)
    path = f"{API}/incidents/{opened['id']}"
    await apply_template("incident", opened["id"], {"category": "network", "impact": 1, "urgency": 1,
                                                    "assignment_group": "NetOps", "colour": "red", "urgency_x": 2})

    note = await noted(agent, path, "Work order template 'VPN outage' applied (tasks TASK0001001, TASK0001002).")
    assert "colour (" in note and "urgency_x (" in note
    incident = ok(await agent.get(path))
    assert (incident["category"], incident["priority"], incident["assignment_group"]) == ("network", 1, "NetOps")


async def test_a_value_the_incident_refuses_now_is_skipped_and_the_rest_is_set(agent, apply_template):
    opened = ok(await agent.post(f"{API}/incidents", json={"short_description": f"VPN {uuid.uuid4().hex[:8]}"}), 201)
    path = f"{API}/incidents/{opened['id']}"
    await apply_template("incident", opened["id"], {"impact": 9, "subcategory": "vpn", "short_description": ""})

    note = await noted(agent, path, "Work order template 'VPN outage' applied")
    assert "impact (" in note and "short_description (" in note
    incident = ok(await agent.get(path))
    assert (incident["subcategory"], incident["impact"], incident["short_description"]) == (
        "vpn", opened["impact"], opened["short_description"])


async def test_a_resolved_incident_takes_no_template(agent, apply_template):
    opened = ok(await agent.post(f"{API}/incidents", json={"short_description": f"VPN {uuid.uuid4().hex[:8]}"}), 201)
    path = f"{API}/incidents/{opened['id']}"
    ok(await agent.post(f"{path}/resolve", json={"resolution_code": "fixed", "resolution_notes": "rebooted"}))
    await handled("incidents", await apply_template("incident", opened["id"], {"category": "network"}))

    assert ok(await agent.get(path))["category"] is None
    assert not [text for text, _ in await work_notes(agent, path) if text.startswith("Work order")]


async def test_a_template_sets_a_changes_fields_and_says_so_on_its_timeline(agent, apply_template):
    change = ok(await agent.post(f"{API}/changes", json={"short_description": f"Firmware {uuid.uuid4().hex[:8]}",
                                                         "change_type": "normal"}), 201)
    path = f"{API}/changes/{change['id']}"
    await apply_template("change", change["id"], {"assignment_group": "NetOps", "test_plan": "ping through",
                                                  "planned_end": "2026-12-24T10:00:00Z"},
                         template="Firmware upgrade", tasks=("TASK0001009",))

    note = await noted(agent, path, "Work order template 'Firmware upgrade' applied (tasks TASK0001009).")
    assert "planned_end (" in note
    found = ok(await agent.get(path))
    assert (found["assignment_group"], found["test_plan"], found["planned_end"]) == ("NetOps", "ping through", None)
