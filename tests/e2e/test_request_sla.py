"""SLAs of requested items end to end (issue 17): request events on itsm.requests start, pause and stop each item's
response and fulfilment timers in the sla service; agents read them through the gateway; a late item's breach is
announced on itsm.sla naming the requested item, and the incidents service, which escalates breached incidents,
takes it without error and escalates nothing.

The request events are published here as the requests service publishes them (enveloped, subject and key the
request id, sequence increasing), so these tests time requests whatever the state of the requests service.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta

import pytest

from itsm_contracts import CloudEvent, topics
from itsm_contracts.events.requests import (
    RequestApprovalRequested, RequestApproved, RequestedItemSummary, RequestFulfilled, RequestSubmitted,
    RequestTaskAssigned,
)
from itsm_kit.clock import utcnow
from tests.helpers import database_scalar, eventually, ok, problem, publishing, read_topic, signed_in

pytestmark = pytest.mark.e2e

TIMERS = "/api/v1/sla/timers"


class Request:
    """One request's events, published in order on itsm.requests."""

    def __init__(self, publish):
        self._publish = publish
        self.id, self.number = str(uuid.uuid4()), f"REQ{uuid.uuid4().hex[:7]}"
        self.sequence = itertools.count(1)

    async def publish(self, data) -> CloudEvent:
        return await self._publish(data, subject=self.id, sequence=next(self.sequence))

    def item(self, *, state: str, response: int | None, fulfilment: int | None) -> RequestedItemSummary:
        return RequestedItemSummary(item_id=str(uuid.uuid4()), number=f"RITM{uuid.uuid4().hex[:7]}",
                                    catalog_item_id=str(uuid.uuid4()), name="New laptop", state=state,
                                    response_target_minutes=response, fulfilment_target_minutes=fulfilment)

    async def submit(self, *items: RequestedItemSummary, at: datetime | None = None) -> None:
        await self.publish(RequestSubmitted(
            request_id=self.id, number=self.number, requested_by="rita", requested_for="rita",
            short_description="A new laptop", state=items[0].state, submitted_at=at or utcnow(), items=list(items)))


@pytest.fixture
async def requests(infra):
    async with publishing(infra["ITSM_KAFKA_BOOTSTRAP"], "itsm/requests") as publish:
        yield lambda: Request(publish)


@pytest.fixture
async def agent(platform):
    async with signed_in(platform, f"agent-{uuid.uuid4().hex[:8]}", "agent") as client:
        yield client


async def timers(agent, item_id: str, **expected: dict) -> dict[str, dict]:
    """The item's timers by kind, once each kind named has the values expected."""
    async def found() -> dict[str, dict]:
        body = ok(await agent.get(TIMERS, params={"record_type": "request_item", "record_id": item_id}))
        by_kind = {t["kind"]: t for t in body["items"]}
        for kind, values in expected.items():
            assert kind in by_kind, by_kind
            for name, value in values.items():
                assert by_kind[kind][name] == value, (kind, name, by_kind[kind])
        return by_kind

    return await eventually(found, timeout=30)


async def test_a_requested_items_timers_follow_its_request_until_fulfilled(platform, requests, agent):
    request = requests()
    laptop = request.item(state="pending_approval", response=60, fulfilment=480)
    await request.submit(laptop)
    found = await timers(agent, laptop.item_id, response={"stage": "in_progress"}, fulfilment={"stage": "paused"})
    assert set(found) == {"response", "fulfilment"}
    fulfilment = found["fulfilment"]
    assert fulfilment["target_seconds"] == 480 * 60 and fulfilment["record_type"] == "request_item"
    assert fulfilment["record_id"] == laptop.item_id and fulfilment["request_id"] == request.id
    assert fulfilment["incident_id"] == "" and fulfilment["elapsed_seconds"] == 0  # waiting for approval
    assert found["response"]["due_at"] is not None and found["response"]["target_seconds"] == 3600

    await request.publish(RequestApprovalRequested(request_id=request.id, number=request.number,
                                                   item_id=laptop.item_id, approval_id="a1", stage=1,
                                                   approvers=["manager"], rule="any", requested_for="rita"))
    await request.publish(RequestApproved(request_id=request.id, number=request.number, item_id=laptop.item_id,
                                          approval_id="a1", stage=1, approved_by=["manager"], approved_at=utcnow()))
    found = await timers(agent, laptop.item_id, response={"stage": "completed", "breached": False},
                         fulfilment={"stage": "in_progress"})
    await request.publish(RequestTaskAssigned(task_id=str(uuid.uuid4()), task_number="TASK1",
                                              record_type="request_item", record_id=laptop.item_id,
                                              request_id=request.id, name="Image the laptop",
                                              assignment_group="desk", assignee="alice", assigned_at=utcnow()))
    await request.publish(RequestFulfilled(request_id=request.id, number=request.number, item_id=laptop.item_id,
                                           fulfilled_at=utcnow(), request_state="fulfilled"))
    # the done-when: when the item is fulfilled, its fulfilment timer is completed
    found = await timers(agent, laptop.item_id, fulfilment={"stage": "completed", "breached": False})
    assert found["fulfilment"]["stopped_at"] is not None
    assert [s["state"] for s in found["fulfilment"]["segments"]] == ["paused", "running"]

    # the incident route as before, and a request for timers that names no record
    assert ok(await agent.get(TIMERS, params={"incident_id": str(uuid.uuid4())}))["items"] == []
    problem(await agent.get(TIMERS, params={"record_type": "request_item"}), 422)


async def test_a_late_item_breaches_naming_it_and_incidents_escalate_nothing(platform, infra, gateway, requests,
                                                                            agent):
    request = requests()
    # Submitted a little over a minute ago with a one-minute fulfilment target: due already.
    late = request.item(state="in_fulfilment", response=None, fulfilment=1)
    # Someone subscribed to this item's breaches: the notifications service tells them, naming the item.
    tag = uuid.uuid4().hex[:8]
    ok(await gateway.post("/api/v1/people", json={"username": f"lead-{tag}", "name": f"Lead {tag}",
                                                   "email": f"lead-{tag}@example.com"}), 201)
    ok(await gateway.post("/api/v1/subscriptions", json={
        "name": f"item breaches {tag}", "event_type": "itsm.sla.breached",
        "filter": [{"field": "record_id", "op": "==", "value": late.item_id}],
        "recipients": [{"kind": "person", "value": f"lead-{tag}"}]}), 201)
    await request.submit(late, at=utcnow() - timedelta(seconds=61))
    found = await timers(agent, late.item_id, fulfilment={"breached": True, "notified_percent": 100})
    timer = found["fulfilment"]
    assert set(found) == {"fulfilment"} and timer["stage"] == "in_progress"  # it runs on to its stop

    def mine(records) -> list[CloudEvent]:
        events = [CloudEvent.from_json(r.value) for r in records]
        return [e for e in events if e.type == "itsm.sla.breached" and e.subject == timer["id"]]

    [breach] = mine(await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.SLA, until=lambda rs: bool(mine(rs))))
    assert breach.data["record_type"] == "request_item" and breach.data["record_id"] == late.item_id
    assert breach.data["request_id"] == request.id and breach.data["record_number"] == late.number
    assert breach.data["incident_id"] == "" and breach.data["kind"] == "fulfilment"

    async def taken_by(service: str) -> None:
        outcome = await database_scalar(service, "SELECT outcome FROM inbox WHERE event_id = $1", breach.id)
        assert outcome == "handled", outcome

    await eventually(lambda: taken_by("incidents"), timeout=30)
    await eventually(lambda: taken_by("notifications"), timeout=30)
    subject = await database_scalar("notifications", "SELECT subject FROM deliveries WHERE event_id = $1", breach.id)
    assert subject == f"SLA breached: {late.number} missed its fulfilment target"
    caused = await database_scalar("incidents", "SELECT count(*) FROM outbox WHERE position($1 in "
                                   "convert_from(payload, 'UTF8')) > 0", breach.id)
    assert caused == 0  # no incident escalated, nothing published because of it

    await request.publish(RequestFulfilled(request_id=request.id, number=request.number, item_id=late.item_id,
                                           fulfilled_at=utcnow(), request_state="fulfilled"))
    await timers(agent, late.item_id, fulfilment={"stage": "completed", "breached": True})


# -- through the gateway, as the requests service publishes ------------------------------------------------------

async def ordered(platform, gateway) -> tuple[dict, dict]:
    """A requester's request of a catalogue item with two parallel tasks, a 1 h response and a 2 day fulfilment
    target; the request and its item. Groups of its own: no other test's dispatch method assigns its tasks."""
    suffix = uuid.uuid4().hex[:8]
    two_tasks = {"kind": "tasks", "tasks": [{"name": "prepare the laptop", "assignment_group": f"hardware-{suffix}"},
                                            {"name": "create the account", "assignment_group": f"identity-{suffix}"}]}
    category = ok(await gateway.post("/api/v1/catalog/categories", json={"name": f"hardware-{suffix}"}), 201)
    item = ok(await gateway.post("/api/v1/catalog/items", json={
        "name": f"new laptop {suffix}", "category_id": category["id"], "short_description": "A laptop for work",
        "form": {"type": "object", "properties": {}}, "flow": [two_tasks], "groups": [],
        "response_target_minutes": 60, "fulfilment_target_minutes": 2880}), 201)
    async with signed_in(platform, f"rita-{suffix}", "requester") as requester:
        request = ok(await requester.post("/api/v1/requests", json={
            "items": [{"catalog_item_id": item["id"], "answers": {}}]}), 201)
    [requested] = request["items"]
    return request, requested


async def test_a_request_ordered_through_the_gateway_is_timed_until_its_tasks_fulfil_it(platform, gateway, agent):
    request, requested = await ordered(platform, gateway)
    found = await timers(agent, requested["id"], fulfilment={"stage": "in_progress"})
    assert found["fulfilment"]["target_seconds"] == 2880 * 60 and found["response"]["target_seconds"] == 3600
    assert found["fulfilment"]["request_id"] == request["id"]
    first, second = request["tasks"]
    ok(await agent.post(f"/api/v1/tasks/{first['id']}/assign",
                        json={"assignment_group": first["assignment_group"], "assignee": "carol"}))
    await timers(agent, requested["id"], response={"stage": "completed", "breached": False})
    for task in (first, second):
        ok(await agent.post(f"/api/v1/tasks/{task['id']}/state", json={"state": "done"}))
    # the done-when: both tasks done, the request is fulfilled and its SLA timer completed
    assert ok(await agent.get(f"/api/v1/requests/{request['id']}"))["state"] == "fulfilled"
    await timers(agent, requested["id"], fulfilment={"stage": "completed", "breached": False})


async def test_a_canceled_request_cancels_its_items_timers(platform, gateway, agent):
    request, requested = await ordered(platform, gateway)
    await timers(agent, requested["id"], fulfilment={"stage": "in_progress"}, response={"stage": "in_progress"})
    ok(await gateway.post(f"/api/v1/requests/{request['id']}/cancel", json={"reason": "not needed"}))
    await timers(agent, requested["id"], fulfilment={"stage": "cancelled", "breached": False},
                 response={"stage": "cancelled", "breached": False})
