"""Delivery that never blocks or loses, against the real platform: endpoints managed through the gateway, signed
webhooks retried with backoff (and Retry-After), a dead or slow receiver that delays nobody else, its breaker,
dead deliveries in the log and their redrive, e-mail with a stable Message-ID.

Deliveries are written straight into the notifications database as the pipeline makes them (tests.helpers.
notification_delivery), so that these tests see the dispatcher alone."""

from __future__ import annotations

import json
import uuid

import pytest
from standardwebhooks import Webhook

from tests.helpers import eventually, notification_delivery, signed_in
from tests.receivers import Answer, HttpReceiver, nobody_listening

pytestmark = pytest.mark.e2e
API = "/api/v1"


@pytest.fixture
def receiver():
    with HttpReceiver() as started:
        yield started


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def endpoint(gateway, url: str, kind: str = "webhook", **fields) -> dict:
    response = await gateway.post(f"{API}/endpoints", json={"name": unique(kind), "kind": kind, "url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def delivery(gateway, delivery_id: str) -> dict:
    response = await gateway.get(f"{API}/deliveries/{delivery_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def in_state(gateway, delivery_id: str, state: str, timeout: float = 30) -> dict:
    async def probe() -> dict:
        found = await delivery(gateway, delivery_id)
        assert found["state"] == state, found
        return found

    return await eventually(probe, timeout=timeout)


def payload(delivery_id: str) -> dict:
    return {"notification": {"id": delivery_id, "subject": "P1 opened", "text": "INC0001001 is down"},
            "event": {"type": "itsm.incident.opened", "id": str(uuid.uuid4())}, "record": None}


# --- endpoints ---------------------------------------------------------------------------------------------------

async def test_a_webhook_endpoint_gets_a_signing_secret_shown_once_and_never_again(gateway, receiver):
    created = await endpoint(gateway, receiver.url + "/hook")
    assert created["secret"].startswith("whsec_") and created["has_secret"]
    Webhook(created["secret"])
    read = (await gateway.get(f"{API}/endpoints/{created['id']}")).json()
    listed = (await gateway.get(f"{API}/endpoints")).json()["items"]
    for shown in (read, next(e for e in listed if e["id"] == created["id"])):
        assert "secret" not in shown and shown["has_secret"]
        assert created["secret"] not in json.dumps(shown)
    own = await endpoint(gateway, receiver.url, secret="whsec_" + "A" * 32, inbound_secret="s3cret")
    assert own["secret"] is None and own["has_inbound_secret"]  # an admin's own secret is not echoed


async def test_bad_endpoints_are_refused_and_nothing_is_written(gateway, receiver):
    before = len((await gateway.get(f"{API}/endpoints")).json()["items"])
    for body in ({"name": "x", "kind": "webhook", "url": "ftp://example.org"},
                 {"name": "x", "kind": "webhook", "url": "file:///etc/passwd"},
                 {"name": "x", "kind": "fax", "url": "https://example.org"},
                 {"name": "x", "kind": "slack", "url": "https://example.org", "options": {"x": "y" * 9000}},
                 {"name": "x", "kind": "slack", "url": "https://example.org", "options": ["not", "an", "object"]}):
        response = await gateway.post(f"{API}/endpoints", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    taken = await endpoint(gateway, receiver.url)
    again = await gateway.post(f"{API}/endpoints", json={"name": taken["name"], "kind": "slack", "url": receiver.url})
    assert again.status_code == 409, again.text
    assert len((await gateway.get(f"{API}/endpoints")).json()["items"]) == before + 1


async def test_agents_read_the_delivery_log_but_only_admins_manage_endpoints_and_redrive(platform, gateway, receiver):
    made = await endpoint(gateway, receiver.url)
    async with signed_in(platform, "agent-7", "agent") as agent:
        assert (await agent.get(f"{API}/deliveries")).status_code == 200
        assert (await agent.get(f"{API}/endpoints")).status_code == 403
        assert (await agent.post(f"{API}/endpoints", json={"name": "n", "kind": "slack",
                                                           "url": receiver.url})).status_code == 403
        assert (await agent.post(f"{API}/deliveries/redrive", json={"endpoint_id": made["id"]})).status_code == 403


# --- retries -----------------------------------------------------------------------------------------------------

async def test_a_receiver_failing_three_times_gets_the_event_once_signed_after_four_tries(gateway, receiver):
    made = await endpoint(gateway, receiver.url + "/hook")
    receiver.answer(Answer(500), Answer(500), Answer(500))
    delivery_id = await notification_delivery("webhook", made["name"], endpoint_id=made["id"],
                                              payload=payload("ignored"), record_id=unique("inc"))
    requests = await receiver.wait_for(4, "/hook")
    sent = await in_state(gateway, delivery_id, "sent")
    assert len(receiver.received("/hook")) == 4
    assert {r.headers["webhook-id"] for r in requests} == {delivery_id}  # one message: the receiver dedupes
    for request in requests:
        Webhook(made["secret"]).verify(request.body, request.headers)
        assert request.headers["content-type"] == "application/json"
    assert json.loads(requests[-1].body)["event"]["type"] == "itsm.incident.opened"
    assert [(a["outcome"], a["status"]) for a in sent["attempts_log"]] == [
        ("failed", 500), ("failed", 500), ("failed", 500), ("sent", 200)]
    assert sent["attempts"] == 4 and sent["sent_at"] is not None


async def test_retry_after_is_honoured(gateway, receiver):
    made = await endpoint(gateway, receiver.url + "/busy")
    receiver.answer(Answer(429, {"Retry-After": "2"}))
    delivery_id = await notification_delivery("webhook", made["name"], endpoint_id=made["id"])
    first, second = await receiver.wait_for(2, "/busy")
    assert second.at - first.at >= 2  # not before the receiver said
    await in_state(gateway, delivery_id, "sent")


async def test_a_refusal_is_dead_at_once_and_redrive_sends_it_keeping_the_attempts_log(gateway, receiver):
    made = await endpoint(gateway, receiver.url + "/picky")
    receiver.answer(Answer(400))
    delivery_id = await notification_delivery("webhook", made["name"], endpoint_id=made["id"])
    dead = await in_state(gateway, delivery_id, "dead")
    assert [a["outcome"] for a in dead["attempts_log"]] == ["refused"] and dead["last_status"] == 400
    assert len(receiver.received("/picky")) == 1
    redriven = await gateway.post(f"{API}/deliveries/{delivery_id}/redrive")
    assert redriven.status_code == 200, redriven.text
    assert redriven.json()["attempts"] == 0
    sent = await in_state(gateway, delivery_id, "sent")
    assert [a["outcome"] for a in sent["attempts_log"]] == ["refused", "sent"] and sent["attempts"] == 1
    again = await gateway.post(f"{API}/deliveries/{delivery_id}/redrive")
    assert again.status_code == 409, again.text
    assert (await gateway.post(f"{API}/deliveries/{uuid.uuid4()}/redrive")).status_code == 404


# --- one receiver never delays the others ------------------------------------------------------------------

async def test_a_dead_and_a_slow_receiver_delay_nobody_and_dead_deliveries_are_redriven(gateway, receiver):
    dead_url = nobody_listening()
    dead = await endpoint(gateway, dead_url + "/down")
    with HttpReceiver() as slow:
        slow.default = Answer(200, delay=3)
        slowpoke = await endpoint(gateway, slow.url + "/slow")
        healthy = await endpoint(gateway, receiver.url + "/ok")
        to_dead = [await notification_delivery("webhook", dead["name"], endpoint_id=dead["id"]) for _ in range(3)]
        to_slow = [await notification_delivery("webhook", slowpoke["name"], endpoint_id=slowpoke["id"])
                   for _ in range(5)]
        await slow.wait_for(5, "/slow")  # all five under way, none answered yet
        to_healthy = [await notification_delivery("webhook", healthy["name"], endpoint_id=healthy["id"])
                      for _ in range(10)]

        async def all_sent() -> None:
            log = (await gateway.get(f"{API}/deliveries", params={"endpoint_id": healthy["id"]})).json()["items"]
            assert sorted(d["id"] for d in log if d["state"] == "sent") == sorted(to_healthy)

        await eventually(all_sent, timeout=20, every=0.05)
        states = {d: (await delivery(gateway, d))["state"] for d in to_dead + to_slow}
        assert all(states[d] in ("pending", "sending") for d in to_dead), states
        assert all(states[d] == "sending" for d in to_slow), states  # the slow receiver still answering

        async def breaker_opened() -> None:
            health = (await gateway.get(f"{API}/endpoints/{dead['id']}/health")).json()
            assert health["breaker"] in ("open", "half_open") and health["failures"] >= 5, health

        await eventually(breaker_opened, timeout=20)
        for delivery_id in to_slow:
            await in_state(gateway, delivery_id, "sent")

    for delivery_id in to_dead:
        await in_state(gateway, delivery_id, "dead", timeout=60)
    log = (await gateway.get(f"{API}/deliveries", params={"endpoint_id": dead["id"], "state": "dead"})).json()
    assert sorted(d["id"] for d in log["items"]) == sorted(to_dead)
    assert all(d["attempts"] == 4 for d in log["items"])
    health = (await gateway.get(f"{API}/endpoints/{dead['id']}/health")).json()
    assert (health["dead"], health["pending"]) == (3, 0)

    with HttpReceiver() as back:
        moved = await gateway.patch(f"{API}/endpoints/{dead['id']}", json={"url": back.url + "/up"})
        assert moved.status_code == 200, moved.text
        redriven = await gateway.post(f"{API}/deliveries/redrive", json={"endpoint_id": dead["id"]})
        assert redriven.status_code == 200 and redriven.json() == {"redriven": 3}, redriven.text
        requests = await back.wait_for(3, "/up")
        assert sorted(r.headers["webhook-id"] for r in requests) == sorted(to_dead)
        for delivery_id in to_dead:
            sent = await in_state(gateway, delivery_id, "sent")
            assert len(sent["attempts_log"]) == 5  # four failed before the redrive, kept
    assert (await gateway.get(f"{API}/endpoints/{dead['id']}/health")).json()["breaker"] == "closed"


# --- chat and e-mail ---------------------------------------------------------------------------------------

async def test_slack_and_teams_get_their_formats(gateway, receiver):
    slack = await endpoint(gateway, receiver.url + "/slack", kind="slack")
    teams = await endpoint(gateway, receiver.url + "/teams", kind="teams")
    await notification_delivery("slack", slack["name"], endpoint_id=slack["id"])
    await notification_delivery("teams", teams["name"], endpoint_id=teams["id"])
    [to_slack] = await receiver.wait_for(1, "/slack")
    [to_teams] = await receiver.wait_for(1, "/teams")
    assert json.loads(to_slack.body) == {"text": "P1 opened\nINC0001001 is down"}
    card = json.loads(to_teams.body)
    assert card["@type"] == "MessageCard" and card["title"] == "P1 opened" and card["text"] == "INC0001001 is down"


async def test_an_email_goes_out_with_the_delivery_id_as_its_message_id(gateway, mail):
    address = f"{unique('ann')}@example.org"
    delivery_id = await notification_delivery("email", address)
    await in_state(gateway, delivery_id, "sent")
    [message] = mail.to(address)
    assert message["Message-ID"] == f"<{delivery_id}@itsm>"
    assert message["Subject"] == "P1 opened" and "INC0001001 is down" in message.get_content()


# --- from a real event ---------------------------------------------------------------------------------------

async def test_an_opened_incident_reaches_a_subscribed_webhook_signed_and_is_in_its_log(gateway, receiver):
    made = await endpoint(gateway, receiver.url + "/events")
    subscribed = await gateway.post(f"{API}/subscriptions", json={
        "name": unique("incidents to the webhook"), "event_type": "itsm.incident.opened", "channel": "webhook",
        "endpoint_id": made["id"]})
    assert subscribed.status_code == 201, subscribed.text
    try:
        title = unique("disk full")
        opened = await gateway.post(f"{API}/incidents", json={"short_description": title})
        assert opened.status_code == 201, opened.text
        incident = opened.json()

        async def arrived() -> list:
            found = [r for r in receiver.received("/events")
                     if json.loads(r.body)["event"].get("subject") == incident["id"]]
            assert found
            return found

        [request] = await eventually(arrived, timeout=30)
        Webhook(made["secret"]).verify(request.body, request.headers)
        assert json.loads(request.body)["event"]["type"] == "itsm.incident.opened"

        async def logged() -> dict:
            log = (await gateway.get(f"{API}/deliveries", params={"record_id": incident["id"],
                                                                  "endpoint_id": made["id"]})).json()["items"]
            assert [d["state"] for d in log] == ["sent"], log
            return log[0]

        entry = await eventually(logged, timeout=10)
        assert entry["id"] == request.headers["webhook-id"]
    finally:
        await gateway.delete(f"{API}/subscriptions/{subscribed.json()['id']}")
