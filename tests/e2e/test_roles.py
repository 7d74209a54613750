"""Each role gets what it may through the gateway, against the real services: a requester reads and opens
incidents and comments on them, but neither works them nor sees their work notes; an agent works them but does
no admin work; an admin does everything."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.helpers import token

pytestmark = pytest.mark.e2e

INCIDENTS, INTEGRATIONS, DEFINITIONS = "/api/v1/incidents", "/api/v1/integrations", "/api/v1/sla/definitions"


def forbidden(response: httpx.Response, role: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["role"] == role and f"needs the {role} role" in response.json()["detail"]


@pytest.fixture
async def as_role(platform):
    clients = []

    async def make(*roles: str) -> httpx.AsyncClient:
        subject = f"{'-'.join(roles)}-{uuid.uuid4().hex[:6]}"
        client = httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30,
                                   headers={"authorization": f"Bearer {token(subject, roles=list(roles))}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_a_requester_opens_and_reads_incidents_but_does_not_work_them(as_role):
    requester, agent = await as_role("requester"), await as_role("agent")
    opened = await requester.post(INCIDENTS, json={"short_description": f"printer {uuid.uuid4().hex[:8]}"})
    assert opened.status_code == 201, opened.text
    url = f"{INCIDENTS}/{opened.json()['id']}"
    assert (await requester.get(INCIDENTS)).status_code == 200
    assert (await requester.get(url)).status_code == 200
    assert (await requester.post(f"{url}/comments", json={"text": "still broken"})).status_code == 200

    forbidden(await requester.post(f"{url}/work-notes", json={"text": "mine"}), "agent")
    forbidden(await requester.patch(url, json={"assignment_group": "service-desk"}), "agent")
    forbidden(await requester.get(INTEGRATIONS), "admin")
    forbidden(await requester.get(DEFINITIONS), "agent")
    forbidden(await requester.post(DEFINITIONS, json={}), "admin")

    noted = await agent.post(f"{url}/work-notes", json={"text": "internal: vendor ticket 42"})
    assert noted.status_code == 200, noted.text
    seen_by_agent = (await agent.get(f"{url}/activity")).json()["items"]
    assert "work_note" in {entry["kind"] for entry in seen_by_agent}
    seen_by_requester = (await requester.get(f"{url}/activity")).json()["items"]
    assert "comment" in {entry["kind"] for entry in seen_by_requester}
    assert "work_note" not in {entry["kind"] for entry in seen_by_requester}
    assert not any("vendor ticket" in (entry["text"] or "") for entry in seen_by_requester)


async def test_an_agent_works_incidents_but_does_no_admin_work(as_role):
    agent = await as_role("agent")
    opened = await agent.post(INCIDENTS, json={"short_description": f"disk {uuid.uuid4().hex[:8]}"})
    assert opened.status_code == 201, opened.text
    url = f"{INCIDENTS}/{opened.json()['id']}"
    assert (await agent.patch(url, json={"assignment_group": "service-desk"})).status_code == 200
    assert (await agent.post(f"{url}/work-notes", json={"text": "looking"})).status_code == 200
    assert (await agent.get(DEFINITIONS)).status_code == 200
    assert (await agent.get("/api/v1/problems")).status_code == 200
    forbidden(await agent.get(INTEGRATIONS), "admin")
    forbidden(await agent.post(INTEGRATIONS, json={"name": "x", "kind": "generic"}), "admin")
    forbidden(await agent.post(DEFINITIONS, json={}), "admin")
    forbidden(await agent.put("/api/v1/incidents/priority-matrix", json={}), "admin")


async def test_an_admin_does_everything(as_role):
    admin = await as_role("admin")
    opened = await admin.post(INCIDENTS, json={"short_description": f"dns {uuid.uuid4().hex[:8]}"})
    assert opened.status_code == 201, opened.text
    url = f"{INCIDENTS}/{opened.json()['id']}"
    assert (await admin.patch(url, json={"assignment_group": "network"})).status_code == 200
    assert (await admin.post(f"{url}/work-notes", json={"text": "seen"})).status_code == 200
    assert "work_note" in {entry["kind"] for entry in (await admin.get(f"{url}/activity")).json()["items"]}
    assert (await admin.get(INTEGRATIONS)).status_code == 200
    assert (await admin.get(DEFINITIONS)).status_code == 200
    assert (await admin.get("/api/v1/changes")).status_code == 200


async def test_a_signed_in_user_with_none_of_our_roles_may_do_nothing(as_role):
    nobody = await as_role()
    forbidden(await nobody.get(INCIDENTS), "requester")
