"""The incidents side of problem links and known errors (issue 14), against the real services, PostgreSQL and
Kafka: an agent links an incident to its problem through the gateway (itsm.incident.problem_linked goes out), and
the incidents service follows the problem's events (put on itsm.problems here, as the problems service publishes
them): a known error's workaround becomes a work note no requester sees, and a refused link is taken back.

Nothing here waits on the problems service acting on the incidents' events: only the incidents side and what it
publishes are checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from itsm_contracts import CloudEvent, EventData, envelope, topics
from itsm_contracts.events.problems import (
    ProblemIncidentLinked, ProblemIncidentLinkRefused, ProblemKnownErrorPublished,
)
from tests.helpers import eventually, read_topic, token

pytestmark = pytest.mark.e2e

API = "/api/v1"


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
async def people(platform):
    """An agent and a requester (the caller of the incidents they open)."""
    tag = uuid.uuid4().hex[:8]
    clients = {role: httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30, headers={
        "authorization": f"Bearer {token(f'{role}-{tag}', roles=[role])}"}) for role in ("agent", "requester")}
    clients["tag"] = tag
    yield clients
    for role in ("agent", "requester"):
        await clients[role].aclose()


@pytest.fixture
async def publish(infra):
    """Put problem events on itsm.problems as the problems service's relay does (keyed by the problem)."""
    producer = AIOKafkaProducer(bootstrap_servers=infra["ITSM_KAFKA_BOOTSTRAP"], acks="all")
    await producer.start()

    async def send(data: EventData) -> None:
        event = envelope(data, source="itsm/problems", subject=data.problem_id, sequence=1)
        await producer.send_and_wait(topics.PROBLEMS, event.to_json(), key=data.problem_id.encode())

    yield send
    await producer.stop()


async def open_incident(client: httpx.AsyncClient) -> dict:
    return ok(await client.post(f"{API}/incidents", json={"short_description": f"VPN drops {uuid.uuid4().hex[:8]}"}),
              201)


async def open_problem(agent: httpx.AsyncClient) -> dict:
    return ok(await agent.post(f"{API}/problems", json={"short_description": f"VPN concentrator {uuid.uuid4().hex[:8]}",
                                                        "impact": 2, "urgency": 2}), 201)


async def incident(client: httpx.AsyncClient, incident_id: str) -> dict:
    return ok(await client.get(f"{API}/incidents/{incident_id}"))


async def work_notes(client: httpx.AsyncClient, incident_id: str) -> list[tuple[str, str]]:
    items = ok(await client.get(f"{API}/incidents/{incident_id}/activity"))["items"]
    return [(a["text"], a["actor"]) for a in items if a["kind"] == "work_note"]


async def until(client: httpx.AsyncClient, incident_id: str, holds) -> dict:
    async def probe():
        found = await incident(client, incident_id)
        assert holds(found), found
        return found
    return await eventually(probe)


async def published(infra, incident_id: str, until_type: str) -> list[CloudEvent]:
    """The incident's events on itsm.incidents, read until one of `until_type` is there."""
    def mine(records) -> list[CloudEvent]:
        return [CloudEvent.from_json(r.value) for r in records if r.key == incident_id.encode()]
    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.INCIDENTS,
                               until=lambda rs: any(e.type == until_type for e in mine(rs)))
    return mine(records)


async def test_an_agent_links_an_incident_to_its_problem_and_the_problem_hears_of_it(infra, people):
    agent, requester, actor = people["agent"], people["requester"], f"agent-{people['tag']}"
    opened = await open_incident(agent)
    first, second = await open_problem(agent), await open_problem(agent)
    url = f"{API}/incidents/{opened['id']}/problem"

    assert (await requester.put(url, json={"problem_id": first["id"]})).status_code == 403
    assert (await agent.put(url, json={"problem_id": "not an id!"})).status_code == 422
    assert (await agent.put(url, json={"problem_id": first["id"]},
                            headers={"if-match": f'"{opened["version"] + 5}"'})).status_code == 412
    assert (await incident(agent, opened["id"]))["problem_id"] is None  # nothing written

    linked = ok(await agent.put(url, json={"problem_id": first["id"]}, headers={"if-match": f'"{opened["version"]}"'}))
    assert linked["problem_id"] == first["id"] and linked["version"] == opened["version"] + 1
    assert (await incident(agent, opened["id"]))["problem_id"] == first["id"]
    again = ok(await agent.put(url, json={"problem_id": first["id"]}))
    assert again["version"] == linked["version"]  # the same link again changes nothing
    moved = ok(await agent.put(url, json={"problem_id": second["id"]}))
    assert moved["problem_id"] == second["id"]

    unlinked = ok(await agent.delete(url))
    assert unlinked["problem_id"] is None
    assert ok(await agent.delete(url))["version"] == unlinked["version"]  # no problem to leave: nothing more

    # Published for the problems service (which links or unlinks on its side). The problems' own answers may
    # follow (itsm.incident.updated); none of them is an incident-side link.
    events = await published(infra, opened["id"], "itsm.incident.problem_unlinked")
    links = [(e.data["problem_id"], e.data["previous_problem_id"], e.data["actor"]) for e in events
             if e.type == "itsm.incident.problem_linked"]
    assert links == [(first["id"], None, actor), (second["id"], first["id"], actor)]
    assert (second["id"], actor) in [(e.data["problem_id"], e.data["actor"]) for e in events
                                     if e.type == "itsm.incident.problem_unlinked"]
    lines = ok(await agent.get(f"{API}/incidents/{opened['id']}/activity"))["items"]
    moves = [(a["old_value"], a["new_value"]) for a in reversed(lines) if a.get("field") == "problem_id"]
    assert moves[:3] == [(None, first["id"]), (first["id"], second["id"]), (second["id"], None)]

async def test_a_known_errors_workaround_reaches_its_open_incidents_as_work_notes_no_requester_sees(
        infra, people, publish):
    agent, requester = people["agent"], people["requester"]
    mine, done = await open_incident(requester), await open_incident(agent)
    ok(await agent.post(f"{API}/incidents/{done['id']}/resolve", json={"resolution_code": "fixed",
                                                                      "resolution_notes": "rebooted"}))
    earlier, problem_id, known_error_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    await publish(ProblemIncidentLinked(problem_id=earlier, incident_id=mine["id"], at=now, actor="agent-kb"))
    await until(agent, mine["id"], lambda i: i["problem_id"] == earlier)

    # Linked on the problem's side to another problem, which has a published known error: the link moves the
    # incident, and brings the workaround.
    await publish(ProblemIncidentLinked(problem_id=problem_id, incident_id=mine["id"], at=now, actor="agent-kb",
                                        known_error_id=known_error_id, known_error_number="KE0000777",
                                        workaround="Reconnect with the backup profile."))
    await until(agent, mine["id"], lambda i: i["problem_id"] == problem_id)
    assert ("Workaround from known error KE0000777: Reconnect with the backup profile.", "agent-kb") in \
        await work_notes(agent, mine["id"])
    events = await published(infra, mine["id"], "itsm.incident.problem_unlinked")
    # The problem it left is told to drop it; the new link is not echoed back as an incident-side link.
    assert [e.data["problem_id"] for e in events if e.type == "itsm.incident.problem_unlinked"] == [earlier]
    assert not [e for e in events if e.type == "itsm.incident.problem_linked"]

    # Published again (revised) for its incidents: the open one gets it, the resolved one and an unknown one not.
    await publish(ProblemKnownErrorPublished(
        problem_id=problem_id, known_error_id=known_error_id, number="KE0000777", problem_number="PRB0000777",
        title="VPN drops", symptoms="tunnels drop every hour", workaround="Use the EU gateway.", revision=2,
        incident_ids=[mine["id"], done["id"], str(uuid.uuid4())], published_at=now))

    async def noted():
        notes = await work_notes(agent, mine["id"])
        assert ("Workaround from known error KE0000777: Use the EU gateway.", "system") in notes, notes
    await eventually(noted)
    assert not [t for t, _ in await work_notes(agent, done["id"]) if t.startswith("Workaround")]

    # Work notes are the desk's: the requester, on their own incident, sees neither, in the timeline or the screen.
    seen = ok(await requester.get(f"{API}/incidents/{mine['id']}/activity"))["items"]
    assert seen and not [a for a in seen if a["kind"] == "work_note" or "Workaround" in (a["text"] or "")]
    screen = ok(await requester.get(f"{API}/screens/incidents/{mine['id']}"))
    assert "Workaround" not in str(screen["timeline"])


async def test_a_refused_link_is_taken_back_with_a_work_note_saying_why(infra, people, publish):
    agent = people["agent"]
    opened = await open_incident(agent)
    # A problem that exists, so that the problems service (if it answers the link) takes it rather than refusing
    # it first; the refusal is put on itsm.problems here.
    refused_id = (await open_problem(agent))["id"]
    linked = ok(await agent.put(f"{API}/incidents/{opened['id']}/problem", json={"problem_id": refused_id}))
    assert linked["problem_id"] == refused_id

    await publish(ProblemIncidentLinkRefused(problem_id=refused_id, incident_id=opened["id"],
                                             reason="the problem is closed", at=datetime.now(UTC)))
    found = await until(agent, opened["id"], lambda i: i["problem_id"] is None)
    assert found["version"] > linked["version"]
    [(text, _actor)] = [n for n in await work_notes(agent, opened["id"]) if "refused" in n[0]]
    assert refused_id in text and "the problem is closed" in text

    events = await published(infra, opened["id"], "itsm.incident.work_note_added")
    cleared = [e for e in events if e.type == "itsm.incident.updated" and e.data["changes"] == {"problem_id": None}]
    assert len(cleared) == 1
    # A refusal is not an unlink: the problem never had it, so nothing goes back to it.
    assert not [e for e in events if e.type == "itsm.incident.problem_unlinked"]
