"""Two-way connectors (issue 16) through the gateway, against the real services, PostgreSQL and Kafka, with PagerDuty
and Jira played by HTTP receivers on loopback: our record stays authoritative, and what a tool told us is never
sent back to it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers import database_scalar, eventually
from tests.receivers import Answer, HttpReceiver

pytestmark = pytest.mark.e2e

INBOUND_SECRET = "tool-signing-secret-0123456789"
ENQUEUE = "/v2/enqueue"
# After our change that a tool caused, how long we watch for an echo that must not come (the pipeline and the
# dispatcher take well under a second here; this is a wait for something not to happen, not a timing assertion).
ECHO_WATCH_SECONDS = 3


def hex_hmac(body: bytes, secret: str = INBOUND_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def notifications_db(query: str, *args) -> None:
    import asyncpg

    server = os.environ["ITSM_DATABASE_URL"].rsplit("/", 1)[0]
    connection = await asyncpg.connect(f"{server}/itsm_notifications")
    try:
        await connection.execute(query, *args)
    finally:
        await connection.close()


async def subscribe(gateway, endpoint: dict, event_type: str, conditions: list[dict]) -> None:
    """A subscription of the endpoint to an event type: through the gateway's subscriptions API where it is there,
    else as a row (the pipeline reads them from the database)."""
    body = {"name": f"{endpoint['name']} {event_type}", "event_type": event_type, "filter": conditions,
            "recipients": [{"kind": "endpoint"}], "channel": endpoint["kind"], "endpoint_id": endpoint["id"],
            "urgency": "high"}
    response = await gateway.post("/api/v1/subscriptions", json=body)
    if response.status_code in (404, 405):
        now = datetime.now(UTC)
        await notifications_db(
            "INSERT INTO subscriptions (id, name, event_type, filter, recipients, channel, endpoint_id, template, "
            "urgency, enabled, created_at, updated_at, version) "
            "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, NULL, 'high', true, $8, $8, 1)",
            str(uuid.uuid4()), body["name"], event_type, json.dumps(conditions), json.dumps(body["recipients"]),
            endpoint["kind"], endpoint["id"], now)
    else:
        assert response.status_code == 201, response.text


async def connector(gateway, receiver: HttpReceiver, kind: str, subscriptions: list[tuple[str, list[dict]]],
                    **fields) -> dict:
    response = await gateway.post("/api/v1/endpoints", json={
        "name": f"{kind}-{uuid.uuid4().hex[:8]}", "kind": kind, "inbound_secret": INBOUND_SECRET, **fields})
    assert response.status_code == 201, response.text
    endpoint = response.json()
    for event_type, conditions in subscriptions:
        await subscribe(gateway, endpoint, event_type, conditions)
    return endpoint


@pytest.fixture
async def receiver():
    with HttpReceiver() as started:
        yield started


@pytest.fixture
async def switched_off():
    """Endpoints made by a test, switched off after it (their receiver is gone; later tests' incidents need not
    queue deliveries to it)."""
    made: list[str] = []
    yield made
    for endpoint_id in made:
        await notifications_db("UPDATE subscriptions SET enabled = false WHERE endpoint_id = $1", endpoint_id)
        await notifications_db("UPDATE endpoints SET enabled = false WHERE id = $1", endpoint_id)


async def open_incident(gateway, **fields) -> dict:
    response = await gateway.post("/api/v1/incidents", json={
        "short_description": f"connectors {uuid.uuid4().hex[:8]}", **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def incident_now(gateway, incident: dict) -> dict:
    response = await gateway.get(f"/api/v1/incidents/{incident['id']}")
    assert response.status_code == 200, response.text
    return response.json()


async def work_notes(gateway, incident: dict) -> list[str]:
    response = await gateway.get(f"/api/v1/incidents/{incident['id']}/activity", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [a["text"] for a in response.json()["items"] if a["kind"] == "work_note"]


def pagerduty_webhook(event_type: str, dedup_key: str, incident_id: str = "Q0PD123") -> bytes:
    return json.dumps({"event": {
        "id": uuid.uuid4().hex, "event_type": event_type, "resource_type": "incident",
        "occurred_at": datetime.now(UTC).isoformat(), "agent": {"summary": "Ada Lovelace", "type": "user_reference"},
        "data": {"id": incident_id, "type": "incident", "incident_key": dedup_key,
                 "status": event_type.removeprefix("incident."),
                 "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}"}}}).encode()


async def post_signed(platform, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """As the tool calls: no token of ours, the raw body and its signature."""
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30) as tool:
        return await tool.post(path, content=body, headers={"content-type": "application/json", **headers})


def calls_for(receiver: HttpReceiver, dedup_key: str) -> list[dict]:
    return [body for r in receiver.received(ENQUEUE) if (body := json.loads(r.body))["dedup_key"] == dedup_key]


async def test_pagerduty_pages_on_a_p1_and_its_acknowledgement_and_resolution_come_back_without_echo(
        platform, gateway, receiver, switched_off):
    receiver.default = Answer(202, {"content-type": "application/json"},
                              b'{"status": "success", "message": "Event processed"}')
    endpoint = await connector(
        gateway, receiver, "pagerduty", [("itsm.incident.opened", [{"field": "priority", "op": "<=", "value": 2}]),
                                         ("itsm.incident.state_changed", [])],
        url=f"{receiver.url}{ENQUEUE}", secret="routing-key-0123456789abcdef")
    switched_off.append(endpoint["id"])
    incident = await open_incident(gateway, impact=1, urgency=1)
    key = f"itsm-incident-{incident['id']}"

    async def triggered() -> list[dict]:
        calls = calls_for(receiver, key)
        assert calls, "no trigger yet"
        return calls

    [trigger] = await eventually(triggered)
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "routing-key-0123456789abcdef"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"].startswith(f"[{incident['number']}] connectors ")
    assert trigger["links"][0]["href"].endswith(f"/incidents/{incident['id']}")

    webhooks = f"/api/v1/connectors/{endpoint['id']}/pagerduty-webhooks"
    # A badly signed webhook changes nothing.
    forged = pagerduty_webhook("incident.acknowledged", key)
    refused = await post_signed(platform, webhooks, forged,
                                {"x-pagerduty-signature": f"v1={hex_hmac(forged, 'not-the-secret')}"})
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    unsigned = await post_signed(platform, webhooks, forged, {})
    assert unsigned.status_code == 401

    acknowledged = pagerduty_webhook("incident.acknowledged", key)
    signature = {"x-pagerduty-signature": f"v1={hex_hmac(b'rotated', 'old')},v1={hex_hmac(acknowledged)}"}
    answer = await post_signed(platform, webhooks, acknowledged, signature)
    assert answer.status_code == 202 and answer.json() == {"status": "published"}, answer.text
    # PagerDuty retrying the same delivery publishes nothing more.
    again = await post_signed(platform, webhooks, acknowledged, signature)
    assert again.status_code == 202 and again.json() == {"status": "repeated"}

    async def in_progress() -> None:
        assert (await incident_now(gateway, incident))["state"] == "in_progress"
        assert (await work_notes(gateway, incident)) == ["Acknowledged in PagerDuty by Ada Lovelace"]

    await eventually(in_progress)
    await asyncio.sleep(ECHO_WATCH_SECONDS)
    assert [c["event_action"] for c in calls_for(receiver, key)] == ["trigger"], "the acknowledgement was echoed"

    resolved = pagerduty_webhook("incident.resolved", key)
    answer = await post_signed(platform, webhooks, resolved, {"x-pagerduty-signature": f"v1={hex_hmac(resolved)}"})
    assert answer.status_code == 202 and answer.json() == {"status": "published"}, answer.text

    async def resolved_here() -> dict:
        now = await incident_now(gateway, incident)
        assert now["state"] == "resolved"
        return now

    now = await eventually(resolved_here)
    assert now["resolution_code"] == "resolved_externally"
    assert now["resolution_notes"] == "Resolved in PagerDuty by Ada Lovelace"
    await asyncio.sleep(ECHO_WATCH_SECONDS)
    assert [c["event_action"] for c in calls_for(receiver, key)] == ["trigger"], "the resolution was echoed"

    # A record PagerDuty names that we do not know: accepted (PagerDuty would retry for ever), nothing done.
    stranger = pagerduty_webhook("incident.acknowledged", "itsm-incident-nobody", "Q0OTHER")
    answer = await post_signed(platform, webhooks, stranger, {"x-pagerduty-signature": f"v1={hex_hmac(stranger)}"})
    assert answer.status_code == 202 and answer.json() == {"status": "unknown_record"}


async def test_our_own_changes_reach_pagerduty(platform, gateway, receiver, switched_off):
    receiver.default = Answer(202, {}, b'{"status": "success"}')
    endpoint = await connector(
        gateway, receiver, "pagerduty", [("itsm.incident.opened", [{"field": "priority", "op": "<=", "value": 2}]),
                                         ("itsm.incident.state_changed", [])],
        url=f"{receiver.url}{ENQUEUE}", secret="routing-key-0123456789abcdef")
    switched_off.append(endpoint["id"])
    incident = await open_incident(gateway, impact=1, urgency=2)
    key = f"itsm-incident-{incident['id']}"
    await eventually(lambda: _has(receiver, key, ["trigger"]))
    url = f"/api/v1/incidents/{incident['id']}"
    assert (await gateway.post(f"{url}/state", json={"state": "in_progress"})).status_code == 200
    await eventually(lambda: _has(receiver, key, ["trigger", "acknowledge"]))
    resolved = await gateway.post(f"{url}/resolve", json={"resolution_code": "fixed", "resolution_notes": "Done"})
    assert resolved.status_code == 200, resolved.text
    await eventually(lambda: _has(receiver, key, ["trigger", "acknowledge", "resolve"]))


async def _has(receiver: HttpReceiver, key: str, actions: list[str]) -> None:
    assert [c["event_action"] for c in calls_for(receiver, key)] == actions


def jira_comment(issue_key: str, record_id: str, author: str, text: str) -> bytes:
    return json.dumps({
        "timestamp": int(datetime.now(UTC).timestamp() * 1000), "webhookEvent": "comment_created",
        "comment": {"id": uuid.uuid4().hex[:6], "body": text,
                    "author": {"emailAddress": author, "displayName": author.split("@")[0]},
                    "created": datetime.now(UTC).isoformat()},
        "issue": {"id": "10001", "key": issue_key, "self": "https://acme.atlassian.net/rest/api/2/issue/10001",
                  "fields": {"labels": [f"itsm-{record_id}"]}}}).encode()


async def test_jira_gets_an_issue_and_its_comments_come_back_as_work_notes_but_not_its_own(
        platform, gateway, receiver, switched_off):
    issue_key = f"OPS-{uuid.uuid4().int % 100000}"
    receiver.default = Answer(201, {"content-type": "application/json"}, json.dumps(
        {"id": "10001", "key": issue_key, "self": f"{receiver.url}/rest/api/2/issue/10001"}).encode())
    endpoint = await connector(
        gateway, receiver, "jira", [("itsm.incident.opened", [{"field": "priority", "op": "<=", "value": 2}])],
        url=receiver.url, secret="jira-api-token-0123456789",
        options={"project": "OPS", "user": "itsm-bot@example.com"})
    switched_off.append(endpoint["id"])
    incident = await open_incident(gateway, impact=1, urgency=2, description="Card payments fail")

    async def created() -> dict:
        calls = [json.loads(r.body) for r in receiver.received("/rest/api/2/issue")
                 if f"itsm-{incident['id']}" in json.loads(r.body)["fields"]["labels"]]
        assert len(calls) == 1
        return calls[0]

    issue = await eventually(created)
    assert issue["fields"]["project"] == {"key": "OPS"} and issue["fields"]["issuetype"] == {"name": "Task"}
    assert issue["fields"]["summary"].startswith(f"[{incident['number']}] ")
    assert f"/incidents/{incident['id']}" in issue["fields"]["description"]
    [request] = [r for r in receiver.received("/rest/api/2/issue") if f"itsm-{incident['id']}".encode() in r.body]
    assert request.headers["authorization"].startswith("Basic ")

    async def key_kept() -> None:
        kept = await database_scalar("notifications", "SELECT external_id FROM external_links WHERE record_id = $1 "
                                     "AND endpoint_id = $2", incident["id"], endpoint["id"])
        assert kept == issue_key

    await eventually(key_kept)

    webhooks = f"/api/v1/connectors/{endpoint['id']}/jira-webhooks"
    theirs = jira_comment(issue_key, incident["id"], "grace@example.com", "Rolled back the release")
    bad = await post_signed(platform, webhooks, theirs, {"x-hub-signature": f"sha256={hex_hmac(theirs, 'nope')}"})
    assert bad.status_code == 401
    answer = await post_signed(platform, webhooks, theirs, {"x-hub-signature": f"sha256={hex_hmac(theirs)}"})
    assert answer.status_code == 202 and answer.json() == {"status": "published"}, answer.text
    ours = jira_comment(issue_key, incident["id"], "itsm-bot@example.com", "Posted by the connector")
    answer = await post_signed(platform, webhooks, ours, {"x-hub-signature": f"sha256={hex_hmac(ours)}"})
    assert answer.status_code == 202 and answer.json() == {"status": "ignored"}, answer.text

    async def noted() -> None:
        assert "Comment in Jira by grace: Rolled back the release" in await work_notes(gateway, incident)

    await eventually(noted)
    await asyncio.sleep(ECHO_WATCH_SECONDS)
    assert not [n for n in await work_notes(gateway, incident) if "Posted by the connector" in n]
    assert (await incident_now(gateway, incident))["state"] == "new"  # a comment moves nothing


def jira_status(issue_key: str, record_id: str, to: str, category: str) -> bytes:
    return json.dumps({
        "timestamp": int(datetime.now(UTC).timestamp() * 1000), "webhookEvent": "jira:issue_updated",
        "user": {"displayName": "Grace"},
        "changelog": {"id": uuid.uuid4().hex[:6], "items": [{"field": "status", "fromString": "To Do",
                                                             "toString": to}]},
        "issue": {"id": "10002", "key": issue_key, "fields": {
            "labels": [f"itsm-{record_id}"], "status": {"name": to, "statusCategory": {"key": category}}}}}).encode()


async def test_a_problem_mirrored_in_jira_takes_its_news_as_work_notes_only(platform, gateway, receiver,
                                                                            switched_off):
    issue_key = f"PRB-{uuid.uuid4().int % 100000}"
    receiver.default = Answer(201, {"content-type": "application/json"},
                              json.dumps({"id": "10002", "key": issue_key, "self": "x"}).encode())
    endpoint = await connector(gateway, receiver, "jira", [("itsm.problem.opened", [])], url=receiver.url,
                               secret="jira-api-token-0123456789", options={"project": "OPS", "user": "bot"})
    switched_off.append(endpoint["id"])
    response = await gateway.post("/api/v1/problems", json={
        "short_description": f"connectors {uuid.uuid4().hex[:8]}", "impact": 2, "urgency": 2})
    assert response.status_code == 201, response.text
    problem = response.json()

    async def created() -> None:
        assert [r for r in receiver.received("/rest/api/2/issue") if f"itsm-{problem['id']}".encode() in r.body]

    await eventually(created)
    done = jira_status(issue_key, problem["id"], "Done", "done")
    answer = await post_signed(platform, f"/api/v1/connectors/{endpoint['id']}/jira-webhooks", done,
                               {"x-hub-signature": f"sha256={hex_hmac(done)}"})
    assert answer.status_code == 202 and answer.json() == {"status": "published"}, answer.text

    async def noted() -> None:
        items = (await gateway.get(f"/api/v1/problems/{problem['id']}/activity", params={"limit": 200})).json()
        assert [a["text"] for a in items["items"] if a["kind"] == "work_note"] == ["Resolved in Jira by Grace (Done)"]

    await eventually(noted)
    assert (await gateway.get(f"/api/v1/problems/{problem['id']}")).json()["state"] == problem["state"]


async def test_connector_webhooks_are_bounded_and_name_a_connector_endpoint(platform, gateway, receiver,
                                                                            switched_off):
    endpoint = await connector(gateway, receiver, "pagerduty", [], url=f"{receiver.url}{ENQUEUE}",
                               secret="routing-key-0123456789abcdef")
    switched_off.append(endpoint["id"])
    huge = b'{"event": {"data": "' + b"x" * 2_000_000 + b'"}}'
    answer = await post_signed(platform, f"/api/v1/connectors/{endpoint['id']}/pagerduty-webhooks", huge,
                               {"x-pagerduty-signature": f"v1={hex_hmac(huge)}"})
    assert answer.status_code == 413
    # A PagerDuty endpoint is no Jira endpoint, and an unknown one is no endpoint at all.
    body = jira_comment("OPS-1", "nobody", "grace@example.com", "hello")
    wrong = await post_signed(platform, f"/api/v1/connectors/{endpoint['id']}/jira-webhooks", body,
                              {"x-hub-signature": f"sha256={hex_hmac(body)}"})
    assert wrong.status_code == 404
    unknown = await post_signed(platform, f"/api/v1/connectors/{uuid.uuid4()}/pagerduty-webhooks", body,
                                {"x-pagerduty-signature": f"v1={hex_hmac(body)}"})
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
