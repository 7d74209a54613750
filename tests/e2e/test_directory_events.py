"""Issue 17: the directory publishes itself on itsm.directory (through the notifications service's outbox, in the
write's transaction) so that the requests service can keep a copy: each person as they now are (with their manager
and location), each group with all its members' usernames; and the SCIM import fills manager and location."""

from __future__ import annotations

import json
import uuid

import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import if_match, ok, problem, read_topic, signed_in
from tests.receivers import Answer

pytestmark = pytest.mark.e2e

API = "/api/v1"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def directory_events(infra, subject: str, until) -> list[CloudEvent]:
    """The events of one person or group on itsm.directory (keyed by its id), read until `until(events)` holds."""
    def mine(records) -> list[CloudEvent]:
        return [CloudEvent.from_json(r.value) for r in records if r.key == subject.encode()]
    return mine(await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.DIRECTORY, until=lambda rs: until(mine(rs))))


def has(kind: str, **data):
    return lambda events: any(e.type == kind and all(e.data.get(k) == v for k, v in data.items()) for e in events)


async def test_a_person_with_manager_and_location_is_published_on_each_write_and_when_removed(infra, gateway):
    username, manager = unique("ada"), unique("grace")
    problem(await gateway.post(f"{API}/people", json={"username": username, "name": "Ada", "manager": "not/a name"}),
            422)
    problem(await gateway.post(f"{API}/people", json={"username": username, "name": "Ada", "manager": username}), 422)
    problem(await gateway.get(f"{API}/people/by-username/{username}"), 404)  # nothing written

    ada = ok(await gateway.post(f"{API}/people", json={
        "username": username, "name": "Ada", "email": "ada@example.org", "manager": manager, "location": "Berlin"}),
        201)
    assert (ada["manager"], ada["location"]) == (manager, "Berlin")
    saved = await directory_events(infra, ada["id"], has("itsm.person.saved"))
    [first] = [e for e in saved if e.type == "itsm.person.saved"]
    assert (first.subject, first.sequence, first.source) == (ada["id"], 1, "itsm/notifications")
    assert {k: first.data[k] for k in ("person_id", "username", "name", "email", "manager", "location", "active")} == {
        "person_id": ada["id"], "username": username, "name": "Ada", "email": "ada@example.org", "manager": manager,
        "location": "Berlin", "active": True}

    moved = ok(await gateway.patch(f"{API}/people/{ada['id']}", json={"location": "Paris", "active": False},
                                   headers=if_match(ada)))
    assert moved["location"] == "Paris"
    events = await directory_events(infra, ada["id"], has("itsm.person.saved", location="Paris"))
    assert [(e.sequence, e.data["location"], e.data["active"]) for e in events] == [(1, "Berlin", True),
                                                                                   (2, "Paris", False)]

    ok(await gateway.delete(f"{API}/people/{ada['id']}"), 204)
    events = await directory_events(infra, ada["id"], has("itsm.person.removed"))
    assert (events[-1].type, events[-1].sequence, events[-1].data["username"]) == ("itsm.person.removed", 3, username)


async def test_a_groups_member_changes_publish_the_group_with_its_members(infra, gateway):
    ada = ok(await gateway.post(f"{API}/people", json={"username": unique("ada"), "name": "Ada"}), 201)
    bob = ok(await gateway.post(f"{API}/people", json={"username": unique("bob"), "name": "Bob"}), 201)
    group = ok(await gateway.post(f"{API}/groups", json={"name": unique("NetOps"), "members": [ada["username"]]}), 201)
    await directory_events(infra, group["id"], has("itsm.group.saved", members=[ada["username"]]))

    ok(await gateway.post(f"{API}/groups/{group['id']}/members", json={"member": bob["username"]}))
    both = sorted([ada["username"], bob["username"]])
    await directory_events(infra, group["id"], has("itsm.group.saved", members=both))

    ok(await gateway.delete(f"{API}/groups/{group['id']}/members/{ada['id']}"), 204)
    # Removing bob from the directory takes him out of the group: published too.
    ok(await gateway.delete(f"{API}/people/{bob['id']}"), 204)
    events = await directory_events(infra, group["id"], has("itsm.group.saved", members=[]))
    saved = [(e.sequence, e.data["members"]) for e in events if e.type == "itsm.group.saved"]
    assert saved == [(1, [ada["username"]]), (2, both), (3, [bob["username"]]), (4, [])]
    assert ok(await gateway.get(f"{API}/groups/{group['id']}"))["version"] == 4

    renamed = ok(await gateway.patch(f"{API}/groups/{group['id']}", json={"description": "network"}))
    assert renamed["version"] == 5
    ok(await gateway.delete(f"{API}/groups/{group['id']}"), 204)
    events = await directory_events(infra, group["id"], has("itsm.group.removed"))
    assert [(e.type, e.sequence) for e in events][-2:] == [("itsm.group.saved", 5), ("itsm.group.removed", 6)]


def scim_page(total: int, start: int, *resources: dict) -> Answer:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": total,
            "itemsPerPage": len(resources), "startIndex": start, "Resources": list(resources)}
    return Answer(200, {"content-type": "application/scim+json"}, json.dumps(body).encode())


async def test_the_scim_import_takes_each_users_manager_and_location_and_publishes_them(infra, gateway,
                                                                                         scim_directory):
    tag = uuid.uuid4().hex[:8]
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    boss = {"id": f"{tag}-boss", "userName": f"boss-{tag}", "addresses": [{"locality": "Oslo", "primary": True}]}
    worker = {"id": f"{tag}-w", "userName": f"worker-{tag}", "addresses": [{"locality": "Bergen"}],
              enterprise: {"manager": {"value": f"{tag}-boss"}}}
    stranger = {"id": f"{tag}-s", "userName": f"stranger-{tag}", enterprise: {"manager": {"value": "not-listed"}}}
    group = {"id": f"{tag}-g", "displayName": f"Field-{tag}", "members": [{"value": f"{tag}-w"}]}
    scim_directory.answer(scim_page(3, 1, boss, worker, stranger), scim_page(1, 1, group))

    ok(await gateway.post(f"{API}/directory/scim-import"))

    found = ok(await gateway.get(f"{API}/people/by-username/worker-{tag}"))
    assert (found["manager"], found["location"]) == (f"boss-{tag}", "Bergen")
    assert ok(await gateway.get(f"{API}/people/by-username/stranger-{tag}"))["manager"] is None
    await directory_events(infra, found["id"], has("itsm.person.saved", manager=f"boss-{tag}", location="Bergen"))
    team = ok(await gateway.get(f"{API}/groups", params={"q": f"Field-{tag}"}))["items"][0]
    await directory_events(infra, team["id"], has("itsm.group.saved", members=[f"worker-{tag}"]))
    # Leave no active imported people behind (tests/e2e/test_directory.py counts what its import deactivates).
    scim_directory.answer(scim_page(0, 1), scim_page(0, 1))
    assert ok(await gateway.post(f"{API}/directory/scim-import"))["deactivated"] >= 3


async def test_an_admin_publishes_the_whole_directory_again_at_its_current_versions(infra, gateway, platform):
    ada = ok(await gateway.post(f"{API}/people", json={"username": unique("ada"), "name": "Ada", "location": "Oslo"}),
             201)
    team = ok(await gateway.post(f"{API}/groups", json={"name": unique("Desk"), "members": [ada["id"]]}), 201)
    async with signed_in(platform, unique("agent"), "agent") as agent:
        problem(await agent.post(f"{API}/directory/publish"), 403)

    counts = ok(await gateway.post(f"{API}/directory/publish"))

    assert counts["people"] >= 1 and counts["groups"] >= 1
    again = await directory_events(infra, ada["id"], lambda es: len(es) >= 2)
    assert [(e.type, e.sequence, e.data["location"]) for e in again] == [("itsm.person.saved", 1, "Oslo")] * 2
    groups = await directory_events(infra, team["id"], lambda es: len(es) >= 2)
    assert [(e.sequence, e.data["members"]) for e in groups] == [(1, [ada["username"]])] * 2
