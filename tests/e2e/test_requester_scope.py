"""A requester sees only their own incidents, against the real services: lists and counts hold only the
incidents they are the caller of (whatever caller they ask for), another's incident, its activity and its
comments are a 404 as if it did not exist, and the incidents they open are theirs. Agents still see all."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.helpers import token

pytestmark = pytest.mark.e2e

INCIDENTS = "/api/v1/incidents"


@pytest.fixture
async def people(platform):
    tag = uuid.uuid4().hex[:8]
    clients = {name: httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30, headers={
        "authorization": f"Bearer {token(f'{name}-{tag}', roles=[role])}"})
        for name, role in (("ann", "requester"), ("bob", "requester"), ("agent", "agent"))}
    yield tag, clients
    for client in clients.values():
        await client.aclose()


async def test_a_requester_lists_counts_and_reads_only_their_own_incidents(people):
    tag, clients = people
    ann, bob, agent = clients["ann"], clients["bob"], clients["agent"]
    mine = await ann.post(INCIDENTS, json={"short_description": f"ann's laptop {tag}"})
    assert mine.status_code == 201, mine.text
    assert mine.json()["caller"] == f"ann-{tag}"
    # In someone else's name: no, it is opened as theirs.
    spoofed = await bob.post(INCIDENTS, json={"short_description": f"bob as ann {tag}", "caller": f"ann-{tag}"})
    assert spoofed.status_code == 201 and spoofed.json()["caller"] == f"bob-{tag}"
    theirs = await agent.post(INCIDENTS, json={"short_description": f"for ann {tag}", "caller": f"ann-{tag}"})
    other = await agent.post(INCIDENTS, json={"short_description": f"for carol {tag}", "caller": f"carol-{tag}"})
    assert theirs.status_code == other.status_code == 201

    listed = (await ann.get(INCIDENTS, params={"q": tag})).json()["items"]
    assert {i["id"] for i in listed} == {mine.json()["id"], theirs.json()["id"]}
    asked_for_carol = (await ann.get(INCIDENTS, params={"q": tag, "caller": f"carol-{tag}"})).json()["items"]
    assert {i["caller"] for i in asked_for_carol} <= {f"ann-{tag}"}
    assert (await ann.get(f"{INCIDENTS}/counts", params={"q": tag})).json() == \
        (await agent.get(f"{INCIDENTS}/counts", params={"q": tag, "caller": f"ann-{tag}"})).json()
    # Asking for carol's counts gets ann's own (her two), not carol's one.
    assert (await ann.get(f"{INCIDENTS}/counts", params={"caller": f"carol-{tag}"})).json()["total"] == 2
    assert (await agent.get(f"{INCIDENTS}/counts", params={"caller": f"carol-{tag}"})).json()["total"] == 1
    assert {i["id"] for i in (await agent.get(INCIDENTS, params={"q": tag})).json()["items"]} >= {
        mine.json()["id"], other.json()["id"], spoofed.json()["id"]}

    assert (await ann.get(f"{INCIDENTS}/{theirs.json()['id']}")).status_code == 200
    assert (await ann.get(f"{INCIDENTS}/{theirs.json()['id']}/activity")).status_code == 200
    assert (await ann.post(f"{INCIDENTS}/{mine.json()['id']}/comments", json={"text": "any news?"})).status_code == 200


async def test_another_ones_incident_is_a_404_to_a_requester_like_one_that_does_not_exist(people):
    tag, clients = people
    ann, agent = clients["ann"], clients["agent"]
    other = await agent.post(INCIDENTS, json={"short_description": f"carol's vpn {tag}", "caller": f"carol-{tag}"})
    url = f"{INCIDENTS}/{other.json()['id']}"
    missing = await ann.get(f"{INCIDENTS}/{uuid.uuid4()}")
    assert missing.status_code == 404
    for response in (await ann.get(url), await ann.get(f"{url}/activity"),
                     await ann.post(f"{url}/comments", json={"text": "me too"})):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == missing.json()["title"]
        assert response.json()["detail"] == f"incident {other.json()['id']} does not exist"
    activity = (await agent.get(f"{url}/activity")).json()["items"]
    assert not any("me too" in (entry.get("text") or "") for entry in activity)  # nothing written
    assert (await agent.get(url)).status_code == 200
