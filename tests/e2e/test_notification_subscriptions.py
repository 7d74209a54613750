"""Subscriptions and templates through the gateway: events in, durable delivery rows out (issue 16, pipeline).

Asserts on the `deliveries` rows the pipeline writes (the dispatcher, which sends them, is tested on its own)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from itsm_contracts import CloudEvent, topics
from tests.helpers import database_scalar, eventually, group_offsets, read_topic, service_sessions, signed_in

pytestmark = pytest.mark.e2e

SHIPPED = {("itsm.sla.breached", "escalation_group", "high"), ("itsm.incident.opened", "assignment_group", "high"),
           ("itsm.incident.assigned", "assignee", "high"), ("itsm.sla.warning", "assignee", "low"),
           ("itsm.change.state_changed", "assignment_group", "high"),
           ("itsm.request.approval_requested", "people_in", "high")}  # issue 17: each approver


async def rows(query: str, *args) -> list[asyncpg.Record]:
    import os

    server = os.environ["ITSM_DATABASE_URL"].rsplit("/", 1)[0]
    connection = await asyncpg.connect(f"{server}/itsm_notifications")
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def created(response, status: int = 201) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def team(gateway, tag: str, *, working_hours: dict | None = None) -> tuple[list[dict], dict]:
    people = [await created(await gateway.post("/api/v1/people", json={
        "username": f"{name}-{tag}", "name": f"{name.title()} {tag}", "email": f"{name}-{tag}@example.com",
        "timezone": "Europe/Paris", "working_hours": working_hours})) for name in ("ann", "bob")]
    await created(await gateway.post("/api/v1/people", json={
        "username": f"gone-{tag}", "name": "Gone", "email": f"gone-{tag}@example.com", "active": False}))
    group = await created(await gateway.post("/api/v1/groups", json={
        "name": f"network-{tag}", "email": f"noc-{tag}@example.com",
        "members": [p["username"] for p in people] + [f"gone-{tag}"]}))
    return people, group


async def test_shipped_defaults_exist_after_migration_and_admins_may_change_them(gateway):
    listed = await created(await gateway.get("/api/v1/subscriptions", params={"limit": 200}), 200)
    shipped = {(s["event_type"], s["recipients"][0]["kind"], s["urgency"]) for s in listed["items"]
               if s["id"].startswith("00000000-0000-4000-8000-")}
    assert shipped == SHIPPED
    opened = next(s for s in listed["items"] if s["event_type"] == "itsm.incident.opened"
                  and s["id"].startswith("00000000-"))
    assert opened["filter"] == [{"field": "priority", "op": "<=", "value": 2}]
    page = await created(await gateway.get("/api/v1/subscriptions", params={"limit": 2}), 200)
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await created(await gateway.get("/api/v1/subscriptions", params={"limit": 200,
                                                                           "cursor": page["next_cursor"]}), 200)
    assert not {s["id"] for s in rest["items"]} & {s["id"] for s in page["items"]}


async def test_subscription_crud_refuses_what_it_cannot_evaluate_naming_the_field(gateway, platform):
    name = f"sub-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "event_type": "itsm.incident.opened", "filter": [{"field": "category", "op": "==",
                                                                           "value": "email"}],
            "recipients": [{"kind": "assignment_group"}], "channel": "email"}
    before = await database_scalar("notifications", "SELECT count(*) FROM subscriptions")
    for wrong, where in ([{"filter": [{"field": "priority", "op": "like", "value": 1}]}, "op"],
                         [{"recipients": [{"kind": "boss"}]}, "kind"],
                         [{"channel": "pigeon"}, "channel"],
                         [{"event_type": "itsm.incident.exploded"}, "event_type"],
                         [{"template": "no-such-template"}, "template"],
                         [{"channel": "slack", "recipients": [], "endpoint_id": "no-such-endpoint"}, "endpoint_id"]):
        response = await gateway.post("/api/v1/subscriptions", json={**body, **wrong})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert where in response.text
    assert await database_scalar("notifications", "SELECT count(*) FROM subscriptions") == before

    subscription = await created(await gateway.post("/api/v1/subscriptions", json=body))
    assert (await gateway.post("/api/v1/subscriptions", json=body)).status_code == 409
    path = f"/api/v1/subscriptions/{subscription['id']}"
    stale = await gateway.patch(path, json={"enabled": False}, headers={"if-match": '"7"'})
    assert stale.status_code == 412
    changed = await gateway.patch(path, json={"enabled": False}, headers={"if-match": '"1"'})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert changed.headers["etag"] == '"2"'
    async with signed_in(platform, "agent-7", "agent") as agent:  # admins only
        assert (await agent.get("/api/v1/subscriptions")).status_code == 403
        assert (await agent.post("/api/v1/templates/preview", json={
            "subject": "s", "body": "b", "event_type": "itsm.incident.opened"})).status_code == 403
    assert (await gateway.delete(path, headers={"if-match": '"2"'})).status_code == 204
    assert (await gateway.get(path)).status_code == 404


async def test_templates_are_previewed_saved_checked_and_fall_back_to_the_shipped_default(gateway):
    preview = await created(await gateway.post("/api/v1/templates/preview", json={
        "subject": "[{{ event.data.priority }}] {{ record.number }} {{ event.data.short_description }}",
        "body": "Hi {{ recipient.name }}, see {{ url }}", "event_type": "itsm.incident.opened",
        "data": {"priority": 1, "short_description": "mail down"}, "record": {"id": "i-9", "number": "INC9"}}), 200)
    assert preview["subject"] == "[1] INC9 mail down"
    assert preview["body"].startswith("Hi Sample Person, see ") and preview["body"].rstrip().endswith("/incidents/i-9")
    refused = await gateway.post("/api/v1/templates/preview", json={
        "subject": "{{ ''.__class__ }}", "body": "b", "event_type": "itsm.incident.opened"})
    assert refused.status_code == 422 and "unsafe" in refused.text

    name = f"custom-{uuid.uuid4().hex[:8]}"
    bad = await gateway.put(f"/api/v1/templates/{name}", json={"subject": "{{ ''.__class__ }}", "body": "b"})
    assert bad.status_code == 422
    assert (await gateway.get(f"/api/v1/templates/{name}")).status_code == 404
    saved = await gateway.put(f"/api/v1/templates/{name}", json={"subject": "Custom {{ record.number }}",
                                                                  "body": "b"})
    assert saved.status_code == 201 and saved.headers["etag"] == '"1"'
    again = await gateway.put(f"/api/v1/templates/{name}", json={"subject": "Custom2", "body": "b"},
                              headers={"if-match": '"1"'})
    assert again.status_code == 200 and again.json()["version"] == 2
    shown = await created(await gateway.post(f"/api/v1/templates/{name}/preview", json={
        "event_type": "itsm.incident.opened"}), 200)
    assert shown["subject"] == "Custom2"

    shipped = await created(await gateway.get("/api/v1/templates/itsm.sla.breached"), 200)
    assert shipped["shipped"] is True and shipped["version"] == 0
    sample = await created(await gateway.post("/api/v1/templates/itsm.sla.breached/preview", json={}), 200)
    assert sample["subject"].startswith("SLA breached")
    listed = await created(await gateway.get("/api/v1/templates"), 200)
    assert {"itsm.sla.breached", name} <= {t["name"] for t in listed["items"]}
    assert (await gateway.delete(f"/api/v1/templates/{name}", headers={"if-match": '"2"'})).status_code == 204


async def replay(infra, record) -> None:
    """The event again, as if the inbox had forgotten it (a rebuild): twice."""
    event = CloudEvent.from_json(record.value)
    await rows("DELETE FROM inbox WHERE event_id = $1", event.id)
    producer = AIOKafkaProducer(bootstrap_servers=infra["ITSM_KAFKA_BOOTSTRAP"])
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(topics.INCIDENTS, record.value, key=record.key)
    finally:
        await producer.stop()

    async def handled_again() -> None:
        assert await database_scalar("notifications", "SELECT count(*) FROM inbox WHERE event_id = $1 "
                                                      "AND outcome = 'handled'", event.id) == 1

    await eventually(handled_again)


async def opened_event(infra, incident_id: str) -> object:
    found = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.INCIDENTS, until=lambda records: any(
        CloudEvent.from_json(r.value).subject == incident_id and CloudEvent.from_json(r.value).type ==
        "itsm.incident.opened" for r in records))
    return next(r for r in found if CloudEvent.from_json(r.value).subject == incident_id
                and CloudEvent.from_json(r.value).type == "itsm.incident.opened")


async def test_a_p1_for_a_group_makes_one_delivery_per_member_and_mailbox_once_even_when_replayed(
        gateway, platform, infra, mail):
    tag = uuid.uuid4().hex[:8]
    people, group = await team(gateway, tag)
    template = f"major-{tag}"
    assert (await gateway.put(f"/api/v1/templates/{template}", json={
        "subject": "MAJOR {{ record.number }} for {{ recipient.name }}: {{ event.data.short_description }}",
        "body": "{{ url }}"})).status_code == 201
    # Sorts before the shipped "P1 or P2 opened" one, which names the same recipients: its message wins, once.
    await created(await gateway.post("/api/v1/subscriptions", json={
        "name": f"A major {tag}", "event_type": "itsm.incident.opened", "template": template,
        "filter": [{"field": "priority", "op": "==", "value": 1},
                   {"field": "record.assignment_group", "op": "==", "value": group["name"]}],
        "recipients": [{"kind": "assignment_group"}]}))

    incident = await created(await gateway.post("/api/v1/incidents", json={
        "short_description": f"mail down {tag}", "impact": 1, "urgency": 1, "assignment_group": group["name"]}))
    assert incident["priority"] == 1
    expected = {f"ann-{tag}@example.com", f"bob-{tag}@example.com", f"noc-{tag}@example.com"}

    async def delivered() -> list:
        found = await rows("SELECT * FROM deliveries WHERE record_id = $1 AND event_type = 'itsm.incident.opened' "
                           "ORDER BY recipient", incident["id"])
        assert {r["recipient"] for r in found} == expected
        return found

    made = await eventually(delivered)
    assert len(made) == 3
    for row in made:
        assert row["state"] in ("pending", "sending", "sent")
        assert row["channel"] == "email" and row["breaker_key"] == "smtp" and row["urgency"] == "high"
        assert row["dedup_key"] == f"{row['event_id']}:email:{row['recipient']}"
        assert row["subject"].startswith(f"MAJOR {incident['number']} for ")
        assert row["subject"].endswith(f": mail down {tag}")
        assert row["body"].strip().endswith(f"/incidents/{incident['id']}")
    names = {r["recipient"]: r["subject"] for r in made}
    assert names[f"ann-{tag}@example.com"].endswith(f"for Ann {tag}: mail down {tag}")
    assert {r["person_id"] for r in made} == {people[0]["id"], people[1]["id"], None}  # None: the mailbox
    payload = made[0]["payload"]
    import json

    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["event"]["id"] == made[0]["event_id"] and payload["record"]["number"] == incident["number"]
    assert payload["notification"]["id"] == made[0]["id"]

    # Replayed (the inbox forgot it, as after a rebuild): the same event adds no row and leaves the copy as it was.
    record = await opened_event(infra, incident["id"])
    event = CloudEvent.from_json(record.value)
    await replay(infra, record)
    assert len(await rows("SELECT id FROM deliveries WHERE event_id = $1", event.id)) == 3
    copy = (await rows("SELECT * FROM records WHERE record_id = $1", incident["id"]))[0]
    assert (copy["number"], copy["priority"], copy["assignment_group"]) == (incident["number"], 1, group["name"])

    if mail is not None and await database_scalar(  # the dispatcher sends by now: the messages arrive, once each
            "notifications", "SELECT count(*) FROM deliveries WHERE state = 'sent'"):
        async def arrived() -> None:
            assert sorted(m["X-Envelope-To"] for m in mail.messages if tag in (m["Subject"] or "")) == sorted(expected)

        await eventually(arrived)


async def test_an_assignment_reaches_the_assignee_from_the_record_copy_and_low_urgency_waits_for_a_digest(
        gateway, infra):
    tag = uuid.uuid4().hex[:8]
    people, group = await team(gateway, tag)
    ann = people[0]
    await created(await gateway.post("/api/v1/subscriptions", json={
        "name": f"low {tag}", "event_type": "itsm.incident.priority_changed", "urgency": "low",
        "filter": [{"field": "record.assignee", "op": "==", "value": ann["username"]}],
        "recipients": [{"kind": "assignee"}]}))
    incident = await created(await gateway.post("/api/v1/incidents", json={
        "short_description": f"slow {tag}", "impact": 3, "urgency": 3, "assignment_group": group["name"]}))
    moved = await gateway.patch(f"/api/v1/incidents/{incident['id']}", json={"assignee": ann["username"]},
                                headers={"if-match": f'"{incident["version"]}"'})
    assert moved.status_code == 200, moved.text

    async def assigned() -> list:  # the shipped "assignment: tell the assignee"
        found = await rows("SELECT * FROM deliveries WHERE record_id = $1 AND event_type = 'itsm.incident.assigned'",
                           incident["id"])
        assert [r["recipient"] for r in found] == [ann["email"]]
        return found

    [row] = await eventually(assigned)
    assert row["state"] in ("pending", "sending", "sent") and row["person_id"] == ann["id"]

    # The priority event names no assignee: the copy does. Low urgency: held for the next digest.
    reprioritised = await gateway.patch(f"/api/v1/incidents/{incident['id']}", json={"impact": 2},
                                        headers={"if-match": f'"{moved.json()["version"]}"'})
    assert reprioritised.status_code == 200, reprioritised.text

    async def held() -> asyncpg.Record:
        found = await rows("SELECT * FROM deliveries WHERE record_id = $1 AND "
                           "event_type = 'itsm.incident.priority_changed'", incident["id"])
        assert [(r["recipient"], r["state"]) for r in found] == [(ann["email"], "held")]
        return found[0]

    waiting = await eventually(held)
    assert waiting["next_attempt_at"] > waiting["created_at"]
    # An older event replayed leaves the copy as the newer ones made it.
    await replay(infra, await opened_event(infra, incident["id"]))
    [copy] = await rows("SELECT * FROM records WHERE record_id = $1", incident["id"])
    assert (copy["assignee"], copy["priority"]) == (ann["username"], reprioritised.json()["priority"])

    # The digest job's pass, run as it would at that time: one pending message carries it.
    from itsm_kit.outbox import Outbox
    from itsm_kit.unit_of_work import UnitOfWork
    from itsm_notifications.handlers.pipeline import digest_due

    async with service_sessions("notifications") as sessions:
        while await digest_due(UnitOfWork(sessions, Outbox("itsm/notifications")), now=waiting["next_attempt_at"]):
            pass
    [carried] = await rows("SELECT * FROM deliveries WHERE id = $1", waiting["id"])
    assert carried["state"] == "digested" and carried["digest_id"]
    [digest] = await rows("SELECT * FROM deliveries WHERE id = $1", carried["digest_id"])
    assert digest["recipient"] == ann["email"] and digest["person_id"] == ann["id"]
    assert digest["state"] in ("pending", "sending", "sent") and digest["dedup_key"] == f"digest:{digest['id']}"
    assert digest["subject"].endswith("notifications") and waiting["subject"] in digest["body"]
    assert isinstance(digest["created_at"], datetime)


async def passed(bootstrap: str, group: str, records: list) -> None:
    """The group's committed offsets are past each of these records."""
    offsets = await group_offsets(bootstrap, group)
    for r in records:
        assert offsets[TopicPartition(r.topic, r.partition)].offset > r.offset


async def test_an_sla_timer_starting_is_passed_over_until_a_subscription_names_its_type(gateway, infra):
    """An alert storm starts two SLA timers an incident: events no shipped subscription names. The consumer does
    not read them into its inbox, until a subscription names their type; then they make deliveries."""
    tag = uuid.uuid4().hex[:8]
    _, group = await team(gateway, tag)

    async def timers_started(incident_id: str) -> list:
        def both(records: list) -> bool:
            return len(of(records)) == 2

        def of(records: list) -> list:
            return [r for r in records if (e := CloudEvent.from_json(r.value)).type == "itsm.sla.timer_started"
                    and e.data["incident_id"] == incident_id]

        return of(await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.SLA, until=both))

    unheard = await created(await gateway.post("/api/v1/incidents", json={
        "short_description": f"unheard {tag}", "impact": 2, "urgency": 2, "assignment_group": group["name"]}))
    started = await timers_started(unheard["id"])
    await eventually(lambda: passed(infra["ITSM_KAFKA_BOOTSTRAP"], "notifications", started))
    ids = [CloudEvent.from_json(r.value).id for r in started]
    assert await rows("SELECT event_id FROM inbox WHERE event_id = ANY($1::text[])", ids) == []
    opened = (await opened_event(infra, unheard["id"])).value
    assert await rows("SELECT event_id FROM inbox WHERE event_id = $1", CloudEvent.from_json(opened).id)

    subscription = await created(await gateway.post("/api/v1/subscriptions", json={
        "name": f"timers {tag}", "event_type": "itsm.sla.timer_started",
        "filter": [{"field": "record.assignment_group", "op": "==", "value": group["name"]}],
        "recipients": [{"kind": "assignment_group"}]}))
    try:
        heard = await created(await gateway.post("/api/v1/incidents", json={
            "short_description": f"heard {tag}", "impact": 2, "urgency": 2, "assignment_group": group["name"]}))

        async def delivered() -> None:
            found = await rows("SELECT DISTINCT event_id FROM deliveries WHERE record_id = $1 "
                               "AND event_type = 'itsm.sla.timer_started'", heard["id"])
            assert len(found) == 2  # one per timer, each to the group's members and mailbox

        await eventually(delivered)
        assert await rows("SELECT id FROM deliveries WHERE record_id = $1 AND event_type = 'itsm.sla.timer_started'",
                          unheard["id"]) == []
    finally:
        assert (await gateway.delete(f"/api/v1/subscriptions/{subscription['id']}",
                                     headers={"if-match": f'"{subscription["version"]}"'})).status_code == 204
