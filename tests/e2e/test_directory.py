"""The directory through the gateway, as an administrator keeps it and an agent reads it: people and groups, members,
versions (If-Match), duplicates, bad input that writes nothing, who may do what; and the import from the identity
provider's SCIM endpoint (the platform's is tests/conftest.py's `scim_directory`, scripted here)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.helpers import if_match, ok, problem, signed_in
from tests.receivers import Answer

pytestmark = pytest.mark.e2e

API = "/api/v1"




def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def add_person(client: httpx.AsyncClient, username: str, **fields) -> dict:
    return ok(await client.post(f"{API}/people", json={"username": username, "name": username.title(), **fields}), 201)


async def test_people_are_added_read_changed_and_removed(gateway):
    username = unique("ada")
    hours = {"days": [1, 2, 3, 4, 5], "start": "22:00", "end": "06:00"}
    created = await gateway.post(f"{API}/people", json={
        "username": username, "name": "Ada Lovelace", "email": "ada@example.org", "chat_handle": "@ada",
        "timezone": "Europe/London", "working_hours": hours})
    ada = ok(created, 201)
    assert created.headers["etag"] == '"1"' and created.headers["location"] == f"{API}/people/{ada['id']}"
    assert (ada["working_hours"], ada["active"], ada["scim_id"]) == (hours, True, None)
    assert ok(await gateway.get(f"{API}/people/{ada['id']}")) == ada
    assert ok(await gateway.get(f"{API}/people/by-username/{username}")) == ada
    problem(await gateway.get(f"{API}/people/by-username/{unique('nobody')}"), 404)

    changed = ok(await gateway.patch(f"{API}/people/{ada['id']}", json={"timezone": "Asia/Tokyo", "email": None},
                                     headers=if_match(ada)))
    assert (changed["timezone"], changed["email"], changed["version"]) == ("Asia/Tokyo", None, 2)
    # A stale version is a 412 and changes nothing.
    problem(await gateway.patch(f"{API}/people/{ada['id']}", json={"name": "Someone Else"}, headers=if_match(ada)),
            412)
    assert ok(await gateway.get(f"{API}/people/{ada['id']}"))["name"] == "Ada Lovelace"
    problem(await gateway.delete(f"{API}/people/{ada['id']}", headers=if_match(ada)), 412)
    ok(await gateway.delete(f"{API}/people/{ada['id']}", headers=if_match(changed)), 204)
    problem(await gateway.get(f"{API}/people/{ada['id']}"), 404)


async def test_people_are_listed_by_username_with_filters_and_a_cursor(gateway):
    tag = uuid.uuid4().hex[:8]
    for n in range(3):
        await add_person(gateway, f"list{tag}-{n}", active=n != 1)
    page = ok(await gateway.get(f"{API}/people", params={"q": f"list{tag}", "limit": 2}))
    assert [p["username"] for p in page["items"]] == [f"list{tag}-0", f"list{tag}-1"] and page["next_cursor"]
    rest = ok(await gateway.get(f"{API}/people", params={"q": f"list{tag}", "limit": 2, "cursor": page["next_cursor"]}))
    assert [p["username"] for p in rest["items"]] == [f"list{tag}-2"] and rest["next_cursor"] is None
    active = ok(await gateway.get(f"{API}/people", params={"q": f"list{tag}", "active": "false"}))
    assert [p["username"] for p in active["items"]] == [f"list{tag}-1"]
    exact = ok(await gateway.get(f"{API}/people", params={"username": f"list{tag}-2"}))
    assert [p["username"] for p in exact["items"]] == [f"list{tag}-2"]


async def test_a_duplicate_username_or_group_name_is_a_409(gateway):
    username, group = unique("bob"), unique("Network")
    bob = await add_person(gateway, username)
    other = await add_person(gateway, unique("bob"))
    assert problem(await gateway.post(f"{API}/people", json={"username": username, "name": "Bob 2"}), 409)[
        "username"] == username
    problem(await gateway.patch(f"{API}/people/{other['id']}", json={"username": username}, headers=if_match(other)),
            409)
    assert ok(await gateway.get(f"{API}/people/{other['id']}"))["version"] == 1
    first = ok(await gateway.post(f"{API}/groups", json={"name": group}), 201)
    second = ok(await gateway.post(f"{API}/groups", json={"name": unique("Network")}), 201)
    problem(await gateway.post(f"{API}/groups", json={"name": group, "members": [bob["id"]]}), 409)
    problem(await gateway.patch(f"{API}/groups/{second['id']}", json={"name": group}), 409)
    assert ok(await gateway.get(f"{API}/groups/{first['id']}"))["members"] == []


@pytest.mark.parametrize("body, why", [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"email": "not-an-address"}, "e-mail"),
    ({"working_hours": {"days": [1], "start": "09:00", "end": "09:00"}}, "must differ"),
    ({"working_hours": {"days": [9], "start": "09:00", "end": "17:00"}}, "days"),
    ({"username": "{username}/../admin"}, "username"),
    ({"name": "x" * 201}, "name"),
])
async def test_bad_people_are_a_422_and_nothing_is_written(gateway, body, why):
    username = unique("bad")
    body = {k: v.format(username=username) if k == "username" else v for k, v in body.items()}
    refused = problem(await gateway.post(f"{API}/people", json={"username": username, "name": "Bad", **body}), 422)
    assert why in refused["detail"]
    assert ok(await gateway.get(f"{API}/people", params={"q": username}))["items"] == []


async def test_groups_keep_members_by_id_or_username(gateway):
    ada, bob, cyd = [await add_person(gateway, unique(n), email=f"{n}@example.org") for n in ("ada", "bob", "cyd")]
    created = await gateway.post(f"{API}/groups", json={
        "name": unique("Network"), "description": "routers", "email": "network@example.org",
        "members": [ada["username"], bob["id"], ada["id"]]})
    group = ok(created, 201)
    assert created.headers["location"] == f"{API}/groups/{group['id']}"
    assert sorted(m["id"] for m in group["members"]) == sorted([ada["id"], bob["id"]])
    assert set(group["members"][0]) == {"id", "username", "name", "email"}
    assert group["member_count"] == 2

    # An unknown member is a 422 naming it, and nothing changes.
    nobody = unique("nobody")
    refused = problem(await gateway.put(f"{API}/groups/{group['id']}/members",
                                        json={"members": [cyd["username"], nobody]}), 422)
    assert nobody in refused["detail"]
    problem(await gateway.post(f"{API}/groups/{group['id']}/members", json={"member": nobody}), 422)
    problem(await gateway.post(f"{API}/groups", json={"name": unique("Ghosts"), "members": [nobody]}), 422)
    unchanged = ok(await gateway.get(f"{API}/groups/{group['id']}"))
    assert unchanged == group

    replaced = ok(await gateway.put(f"{API}/groups/{group['id']}/members", json={"members": [cyd["username"]]},
                                    headers=if_match(group)))
    assert [m["id"] for m in replaced["members"]] == [cyd["id"]] and replaced["version"] == group["version"] + 1
    problem(await gateway.put(f"{API}/groups/{group['id']}/members", json={"members": []}, headers=if_match(group)),
            412)
    added = ok(await gateway.post(f"{API}/groups/{group['id']}/members", json={"member": ada["username"]}))
    assert {m["id"] for m in added["members"]} == {ada["id"], cyd["id"]}
    ok(await gateway.delete(f"{API}/groups/{group['id']}/members/{cyd['id']}"), 204)
    problem(await gateway.delete(f"{API}/groups/{group['id']}/members/{cyd['id']}"), 404)
    assert [m["id"] for m in ok(await gateway.get(f"{API}/groups/{group['id']}"))["members"]] == [ada["id"]]

    # Too many members is refused before anything is looked up.
    problem(await gateway.put(f"{API}/groups/{group['id']}/members", json={"members": ["x"] * 1001}), 422)

    listed = ok(await gateway.get(f"{API}/groups", params={"q": group["name"]}))
    assert [(g["name"], g["member_count"]) for g in listed["items"]] == [(group["name"], 1)]
    # A person removed leaves their groups.
    ok(await gateway.delete(f"{API}/people/{ada['id']}"), 204)
    assert ok(await gateway.get(f"{API}/groups/{group['id']}"))["members"] == []
    current = ok(await gateway.get(f"{API}/groups/{group['id']}"))
    problem(await gateway.delete(f"{API}/groups/{group['id']}", headers={"if-match": '"1"'}), 412)
    ok(await gateway.delete(f"{API}/groups/{group['id']}", headers=if_match(current)), 204)
    problem(await gateway.get(f"{API}/groups/{group['id']}"), 404)


async def test_agents_read_the_directory_but_only_admins_write_and_requesters_see_none(platform, gateway):
    person = await add_person(gateway, unique("dee"))
    group = ok(await gateway.post(f"{API}/groups", json={"name": unique("Desk")}), 201)
    async with signed_in(platform, "agent-16", "agent") as agent, signed_in(platform, "user-16", "requester") as user:
        assert ok(await agent.get(f"{API}/people/{person['id']}"))["id"] == person["id"]
        ok(await agent.get(f"{API}/people/by-username/{person['username']}"))
        ok(await agent.get(f"{API}/people"))
        ok(await agent.get(f"{API}/groups/{group['id']}"))
        ok(await agent.get(f"{API}/groups"))
        writes = [agent.post(f"{API}/people", json={"username": unique("x"), "name": "X"}),
                  agent.patch(f"{API}/people/{person['id']}", json={"name": "Agent Was Here"}),
                  agent.delete(f"{API}/people/{person['id']}"),
                  agent.post(f"{API}/groups", json={"name": unique("X")}),
                  agent.patch(f"{API}/groups/{group['id']}", json={"description": "x"}),
                  agent.put(f"{API}/groups/{group['id']}/members", json={"members": [person["id"]]}),
                  agent.post(f"{API}/groups/{group['id']}/members", json={"member": person["id"]}),
                  agent.delete(f"{API}/groups/{group['id']}"),
                  agent.post(f"{API}/directory/scim-import")]
        for write in writes:
            problem(await write, 403)
        for read in (f"/people/{person['id']}", "/people", f"/groups/{group['id']}", "/groups"):
            problem(await user.get(API + read), 403)
    assert ok(await gateway.get(f"{API}/people/{person['id']}")) == person
    assert ok(await gateway.get(f"{API}/groups/{group['id']}")) == {**group}


def scim_page(total: int, start: int, *resources: dict) -> Answer:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": total,
            "itemsPerPage": len(resources), "startIndex": start, "Resources": list(resources)}
    return Answer(200, {"content-type": "application/scim+json"}, json.dumps(body).encode())


async def test_an_admin_imports_the_directory_from_the_identity_providers_scim_endpoint(gateway, scim_directory):
    tag = uuid.uuid4().hex[:8]
    hand_made = await add_person(gateway, f"ada-{tag}")  # adopted by the import, not doubled
    users = [{"id": f"{tag}-{n}", "userName": f"{name}-{tag}", "displayName": name.title(),
              "emails": [{"value": f"{name}@example.org", "primary": True}], "timezone": "Europe/Oslo"}
             for n, name in enumerate(("ada", "bob", "cyd"))]
    group = {"id": f"{tag}-g", "displayName": f"Storage-{tag}",
             "members": [{"value": f"{tag}-0"}, {"value": f"{tag}-2"}]}
    before = len(scim_directory.received())
    scim_directory.answer(scim_page(3, 1, *users[:2]), scim_page(3, 3, users[2]), scim_page(1, 1, group))

    counts = ok(await gateway.post(f"{API}/directory/scim-import"))

    assert counts == {"created": 2, "updated": 1, "deactivated": 0, "groups": 1}
    calls = scim_directory.received()[before:]
    assert [c.path for c in calls] == ["/scim/v2/Users?startIndex=1&count=100", "/scim/v2/Users?startIndex=3&count=100",
                                       "/scim/v2/Groups?startIndex=1&count=100"]
    assert {c.headers["authorization"] for c in calls} == {"Bearer scim-test-token"}
    ada = ok(await gateway.get(f"{API}/people/by-username/ada-{tag}"))
    assert (ada["id"], ada["scim_id"], ada["name"], ada["timezone"]) == (hand_made["id"], f"{tag}-0", "Ada",
                                                                           "Europe/Oslo")
    storage = ok(await gateway.get(f"{API}/groups", params={"q": f"Storage-{tag}"}))["items"][0]
    members = ok(await gateway.get(f"{API}/groups/{storage['id']}"))["members"]
    assert sorted(m["username"] for m in members) == [f"ada-{tag}", f"cyd-{tag}"]

    # The identity provider failing is a 502 naming its answer, and nothing changes (bob is still active).
    scim_directory.answer(scim_page(1, 1, users[0]), Answer(500))
    failed = problem(await gateway.post(f"{API}/directory/scim-import"), 502)
    assert "500" in failed["detail"]
    assert ok(await gateway.get(f"{API}/people/by-username/bob-{tag}"))["active"] is True

    # No longer listed: deactivated, never deleted.
    scim_directory.answer(scim_page(2, 1, users[0], users[2]), scim_page(1, 1, group))
    assert ok(await gateway.post(f"{API}/directory/scim-import"))["deactivated"] >= 1
    assert ok(await gateway.get(f"{API}/people/by-username/bob-{tag}"))["active"] is False
