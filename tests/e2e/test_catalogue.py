"""The service catalogue through the gateway: an admin keeps categories and items (forms as JSON Schema, flows,
who may order), requesters browse and search only what they may order, agents see everything; form versions."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import if_match, ok, problem, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
LAPTOP_FORM = {
    "type": "object",
    "properties": {
        "model": {"type": "string", "title": "Model", "enum": ["standard", "developer"]},
        "ram_gb": {"type": "integer", "title": "Memory (GB)", "minimum": 8, "maximum": 64},
        "justification": {"type": "string", "minLength": 10},
    },
    "required": ["model", "ram_gb"],
    "additionalProperties": False,
    "if": {"properties": {"model": {"const": "developer"}}, "required": ["model"]},
    "then": {"required": ["justification"]},
}
LAPTOP_FLOW = [{"kind": "approval", "approver": "manager", "group": None, "rule": "any"},
               {"kind": "tasks", "tasks": [{"name": "Prepare the laptop", "description": "",
                                            "assignment_group": "desktop-support"}]}]


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


async def add_category(gateway, name: str | None = None, **fields) -> dict:
    return ok(await gateway.post(f"{API}/catalog/categories", json={"name": name or unique("Hardware"), **fields}),
              201)


def laptop_body(category: dict, name: str, **fields) -> dict:
    return {"name": name, "category_id": category["id"], "short_description": "A laptop for work",
            "description": "Standard or developer laptops, with a bag.", "form": LAPTOP_FORM, "flow": LAPTOP_FLOW,
            "groups": ["staff"], "price": "1299.00", "currency": "EUR", "delivery_hours": 72,
            "response_target_minutes": 240, "fulfilment_target_minutes": 4320, **fields}


async def test_a_requester_finds_only_what_their_groups_may_order(platform, gateway):
    tag = uuid.uuid4().hex[:8]
    hardware = await add_category(gateway, f"Hardware {tag}", description="Things to hold", position=1)
    created = await gateway.post(f"{API}/catalog/items", json=laptop_body(hardware, f"New laptop {tag}"))
    laptop = ok(created, 201)
    assert created.headers["etag"] == '"1"' and created.headers["location"] == f"{API}/catalog/items/{laptop['id']}"
    assert (laptop["form"], laptop["flow"], laptop["groups"], laptop["price"], laptop["form_version"]) == (
        LAPTOP_FORM, LAPTOP_FLOW, ["staff"], "1299.00", 1)
    # Open to everyone, but retired: nobody orders it any more.
    retired = ok(await gateway.post(f"{API}/catalog/items", json=laptop_body(
        hardware, f"Old laptop {tag}", groups=[], description=f"laptop {tag}", active=False)), 201)

    async with signed_in(platform, "alice", "requester", groups=["staff"]) as alice, \
            signed_in(platform, "bob", "requester", groups=["contractors"]) as bob, \
            signed_in(platform, "carol", "agent", groups=["desktop-support"]) as carol:
        # Search over name and descriptions: "with a bag" is only in the description.
        found = ok(await alice.get(f"{API}/catalog/items", params={"q": f"laptop {tag}"}))
        assert [i["id"] for i in found["items"]] == [laptop["id"]]
        found = ok(await alice.get(f"{API}/catalog/items", params={"q": "with a bag", "category_id": hardware["id"]}))
        assert [i["id"] for i in found["items"]] == [laptop["id"]]
        # Asking for "active=false" or for the whole catalogue changes nothing for a requester.
        found = ok(await alice.get(f"{API}/catalog/items", params={"category_id": hardware["id"], "active": "false",
                                                                    "orderable": "false"}))
        assert found["items"] == []
        detail = ok(await alice.get(f"{API}/catalog/items/{laptop['id']}"))
        assert detail["form"] == LAPTOP_FORM
        assert [c["id"] for c in ok(await alice.get(f"{API}/catalog/categories", params={"limit": 200}))["items"]
                if c["id"] == hardware["id"]] == [hardware["id"]]

        # Bob is in none of the item's groups: it is not there for him (a 404, as for an item that does not exist).
        assert ok(await bob.get(f"{API}/catalog/items", params={"q": f"laptop {tag}"}))["items"] == []
        assert problem(await bob.get(f"{API}/catalog/items/{laptop['id']}"), 404)["detail"] == \
            problem(await bob.get(f"{API}/catalog/items/nothing-{tag}"), 404)["detail"].replace(
                f"nothing-{tag}", laptop["id"])
        problem(await bob.get(f"{API}/catalog/items/{laptop['id']}", params={"orderable": "false"}), 404)
        problem(await alice.get(f"{API}/catalog/items/{retired['id']}"), 404)
        assert hardware["id"] not in [c["id"] for c in
                                      ok(await bob.get(f"{API}/catalog/categories", params={"limit": 200}))["items"]]
        # Requesters do not keep the catalogue, nor read old versions.
        problem(await alice.post(f"{API}/catalog/categories", json={"name": unique("Mine")}), 403)
        problem(await alice.patch(f"{API}/catalog/items/{laptop['id']}", json={"price": "1.00"},
                                  headers=if_match(laptop)), 403)
        problem(await alice.get(f"{API}/catalog/items/{laptop['id']}/versions/1"), 403)

        # Agents see everything, retired items included.
        everything = ok(await carol.get(f"{API}/catalog/items", params={"q": tag}))
        assert {i["id"] for i in everything["items"]} == {laptop["id"], retired["id"]}
        assert ok(await carol.get(f"{API}/catalog/items/{retired['id']}"))["active"] is False
        retired_only = ok(await carol.get(f"{API}/catalog/items", params={"q": tag, "active": "false"}))
        assert [i["id"] for i in retired_only["items"]] == [retired["id"]]


async def test_items_are_listed_by_name_a_page_at_a_time(gateway):
    tag = uuid.uuid4().hex[:8]
    category = await add_category(gateway)
    names = [f"Item {tag} {n}" for n in range(5)]
    for name in reversed(names):
        ok(await gateway.post(f"{API}/catalog/items", json={"name": name, "category_id": category["id"],
                                                           "short_description": "one of five"}), 201)
    seen, cursor = [], None
    while True:
        page = ok(await gateway.get(f"{API}/catalog/items", params={"q": f"Item {tag}", "limit": 2,
                                                                     **({"cursor": cursor} if cursor else {})}))
        seen += [i["name"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == names


async def test_an_invalid_form_is_a_422_and_nothing_is_written(gateway):
    tag = uuid.uuid4().hex[:8]
    category = await add_category(gateway)
    bad_forms = {
        "not an object schema": {"type": "array", "items": {"type": "string"}},
        "invalid per the metaschema": {"type": "object", "properties": {"ram_gb": {"type": "int"}}},
        "a remote $ref": {"type": "object", "properties": {"a": {"$ref": "https://example.org/evil.json"}}},
        "a pattern RE2 refuses": {"type": "object", "properties": {"a": {"type": "string", "pattern": "(?=a)b"}}},
    }
    for why, form in bad_forms.items():
        refused = problem(await gateway.post(f"{API}/catalog/items", json=laptop_body(category, f"Bad {tag}",
                                                                                     form=form)), 422)
        assert refused["detail"], why
    assert ok(await gateway.get(f"{API}/catalog/items", params={"q": f"Bad {tag}"}))["items"] == []
    # Nor is a bad flow or currency taken.
    problem(await gateway.post(f"{API}/catalog/items", json=laptop_body(category, f"Bad {tag}", flow=[
        {"kind": "approval", "approver": "group"}])), 422)
    problem(await gateway.post(f"{API}/catalog/items", json=laptop_body(category, f"Bad {tag}", currency="euro")),
            422)
    problem(await gateway.post(f"{API}/catalog/items", json=laptop_body(
        {"id": f"no-category-{tag}"}, f"Bad {tag}")), 422)
    assert ok(await gateway.get(f"{API}/catalog/items", params={"q": f"Bad {tag}"}))["items"] == []

    # On an existing item: the form stays as it was, and so do its version and form_version.
    item = ok(await gateway.post(f"{API}/catalog/items", json=laptop_body(category, f"Good {tag}")), 201)
    problem(await gateway.patch(f"{API}/catalog/items/{item['id']}", json={"form": bad_forms["a remote $ref"]},
                                headers=if_match(item)), 422)
    assert ok(await gateway.get(f"{API}/catalog/items/{item['id']}")) == item


async def test_editing_the_form_makes_version_2_while_version_1_stays_readable(platform, gateway):
    tag = uuid.uuid4().hex[:8]
    category = await add_category(gateway)
    item = ok(await gateway.post(f"{API}/catalog/items", json=laptop_body(category, f"Versioned {tag}")), 201)

    # A new price is no new form version.
    priced = ok(await gateway.patch(f"{API}/catalog/items/{item['id']}", json={"price": "1199.00"},
                                    headers=if_match(item)))
    assert (priced["version"], priced["form_version"], priced["price"]) == (2, 1, "1199.00")
    problem(await gateway.get(f"{API}/catalog/items/{item['id']}/versions/2"), 404)

    form_2 = {**LAPTOP_FORM, "properties": {**LAPTOP_FORM["properties"],
                                            "colour": {"type": "string", "enum": ["silver", "black"]}}}
    changed = await gateway.patch(f"{API}/catalog/items/{item['id']}", json={"form": form_2},
                                  headers=if_match(priced))
    edited = ok(changed)
    assert changed.headers["etag"] == '"3"' and (edited["form_version"], edited["form"]) == (2, form_2)
    # A stale version is a 412 and changes nothing.
    problem(await gateway.patch(f"{API}/catalog/items/{item['id']}", json={"form": LAPTOP_FORM},
                                headers=if_match(priced)), 412)

    async with signed_in(platform, "dana", "agent") as dana:
        first = ok(await dana.get(f"{API}/catalog/items/{item['id']}/versions/1"))
        second = ok(await dana.get(f"{API}/catalog/items/{item['id']}/versions/2"))
    assert (first["form"], first["flow"], first["form_version"], first["created_by"]) == (
        LAPTOP_FORM, LAPTOP_FLOW, 1, "agent-1")
    assert (second["form"], second["flow"], second["form_version"]) == (form_2, LAPTOP_FLOW, 2)
    assert second["created_at"] >= first["created_at"]
    assert ok(await gateway.get(f"{API}/catalog/items/{item['id']}"))["form_version"] == 2


async def test_categories_are_kept_and_one_with_items_cannot_be_deleted(gateway):
    tag = uuid.uuid4().hex[:8]
    category = await add_category(gateway, f"Software {tag}", position=5)
    problem(await gateway.post(f"{API}/catalog/categories", json={"name": f"Software {tag}"}), 409)
    renamed = ok(await gateway.patch(f"{API}/catalog/categories/{category['id']}",
                                     json={"name": f"Applications {tag}"}, headers=if_match(category)))
    assert (renamed["name"], renamed["version"]) == (f"Applications {tag}", 2)
    problem(await gateway.patch(f"{API}/catalog/categories/{category['id']}", json={"position": 1},
                                headers=if_match(category)), 412)

    item = ok(await gateway.post(f"{API}/catalog/items", json={
        "name": f"Editor {tag}", "category_id": category["id"], "short_description": "A text editor"}), 201)
    problem(await gateway.post(f"{API}/catalog/items", json={
        "name": f"Editor {tag}", "category_id": category["id"], "short_description": "Again"}), 409)
    # Retired, the item still names the category: it stays.
    ok(await gateway.patch(f"{API}/catalog/items/{item['id']}", json={"active": False}, headers=if_match(item)))
    assert problem(await gateway.delete(f"{API}/catalog/categories/{category['id']}", headers=if_match(renamed)),
                   409)["items"] == 1

    empty = await add_category(gateway)
    ok(await gateway.delete(f"{API}/catalog/categories/{empty['id']}", headers=if_match(empty)), 204)
    assert empty["id"] not in [c["id"] for c in ok(await gateway.get(f"{API}/catalog/categories",
                                                                      params={"limit": 200}))["items"]]
