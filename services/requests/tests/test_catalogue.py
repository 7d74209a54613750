"""Catalogue items (no I/O): form versions, who may order, and the rules of an item's fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from itsm_kit.domain import InvalidValue
from itsm_requests.domain.catalogue import CatalogItem, Category, Orderable, may_order
from itsm_requests.domain.flows import flow_from_json

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
FORM = {"type": "object", "properties": {"ram_gb": {"type": "integer", "minimum": 8}}, "required": ["ram_gb"]}
FLOW = [{"kind": "approval", "approver": "manager"},
        {"kind": "tasks", "tasks": [{"name": "Prepare the laptop", "assignment_group": "desktop"},
                                    {"name": "Order the bag"}]}]


def laptop(**fields) -> CatalogItem:
    values = {"id": "item-1", "name": "New laptop", "category_id": "cat-1", "at": AT, "actor": "admin",
              "short_description": "A laptop for work", "form": FORM, "flow": FLOW, "groups": ["staff"],
              "price": "1299.00", "currency": "eur", "delivery_hours": 72, **fields}
    return CatalogItem.create(**values)


def test_a_new_item_is_at_form_version_1_with_its_version_kept():
    item = laptop()
    assert (item.version, item.form_version, item.currency, item.price) == (1, 1, "EUR", Decimal("1299.00"))
    kept = item.current_version()
    assert (kept.item_id, kept.form_version, kept.form, kept.flow, kept.created_by, kept.created_at) == (
        "item-1", 1, FORM, item.flow, "admin", AT)
    assert flow_from_json(item.flow) == flow_from_json(FLOW)


def test_changing_the_form_makes_a_new_form_version():
    item = laptop()
    later = AT + timedelta(hours=1)
    new_form = {**FORM, "properties": {**FORM["properties"], "colour": {"enum": ["silver", "black"]}}}
    item.update({"form": new_form}, later, actor="ada")
    assert (item.version, item.form_version) == (2, 2)
    kept = item.current_version()
    assert (kept.form_version, kept.form, kept.created_by, kept.created_at) == (2, new_form, "ada", later)


def test_changing_the_flow_makes_a_new_form_version():
    item = laptop()
    item.update({"flow": FLOW[1:]}, AT, actor="ada")
    assert (item.version, item.form_version) == (2, 2)


def test_other_changes_make_no_new_form_version():
    item = laptop()
    item.update({"price": "999.00", "short_description": "A cheaper laptop", "active": False}, AT, actor="ada")
    assert (item.version, item.form_version, item.active) == (2, 1, False)


def test_sending_the_same_form_and_flow_again_changes_nothing():
    item = laptop()
    item.update({"form": dict(FORM), "flow": [dict(stage) for stage in FLOW]}, AT, actor="ada")
    assert (item.version, item.form_version) == (1, 1)


def test_a_bad_form_is_refused_on_create_and_on_update_and_changes_nothing():
    with pytest.raises(InvalidValue, match="not local"):
        laptop(form={"type": "object", "properties": {"a": {"$ref": "https://example.org/a.json"}}})
    item = laptop()
    with pytest.raises(InvalidValue, match="object schema"):
        item.update({"form": {"type": "array"}}, AT, actor="ada")
    assert (item.version, item.form_version, item.form) == (1, 1, FORM)


def test_the_form_size_bound_is_the_callers():
    big = {"type": "object", "properties": {f"f{n}": {"type": "string", "description": "x" * 100} for n in range(30)}}
    laptop(form=big)
    with pytest.raises(InvalidValue, match="at most 2048 bytes"):
        laptop(form=big, max_form_bytes=2048)


def test_a_bad_flow_is_refused():
    with pytest.raises(InvalidValue, match="approver"):
        laptop(flow=[{"kind": "approval", "approver": "boss"}])
    with pytest.raises(InvalidValue, match="group name"):
        laptop(flow=[{"kind": "tasks", "tasks": [{"name": "t", "assignment_group": "g" * 101}]}])
    with pytest.raises(InvalidValue, match="group name"):
        laptop(flow=[{"kind": "approval", "approver": "group", "group": "g" * 101}])
    with pytest.raises(InvalidValue, match="a list of stages"):
        laptop(flow={"kind": "tasks"})


def test_price_and_currency_go_together_and_currency_is_three_letters():
    with pytest.raises(InvalidValue, match="go together"):
        laptop(currency=None)
    with pytest.raises(InvalidValue, match="ISO 4217"):
        laptop(currency="euro")
    with pytest.raises(InvalidValue, match="two decimals"):
        laptop(price="10.001")
    with pytest.raises(InvalidValue, match="two decimals"):
        laptop(price="-1")
    free = laptop(price=None, currency=None)
    assert (free.price, free.currency) == (None, None)


def test_response_target_is_not_after_the_fulfilment_target():
    with pytest.raises(InvalidValue, match="response target"):
        laptop(response_target_minutes=600, fulfilment_target_minutes=60)
    item = laptop(response_target_minutes=60, fulfilment_target_minutes=600)
    with pytest.raises(InvalidValue, match="response target"):
        item.update({"response_target_minutes": 6000}, AT, actor="ada")


def test_groups_are_tidied_and_bounded():
    assert laptop(groups=[" staff", "devs", "staff"]).groups == ["devs", "staff"]
    with pytest.raises(InvalidValue, match="at most 50 groups"):
        laptop(groups=[f"g{n}" for n in range(51)])


def test_who_may_order():
    assert laptop().may_be_ordered_by(frozenset({"staff", "other"}))
    assert not laptop().may_be_ordered_by(frozenset({"contractors"}))
    assert not laptop().may_be_ordered_by(frozenset())
    assert laptop(groups=[]).may_be_ordered_by(frozenset())  # no groups: everyone
    assert may_order([], frozenset({"x"}))
    orderable = Orderable(id="i", name="n", category=None, active=True, groups=frozenset({"staff"}), form_version=1,
                          form=FORM, flow=(), price=None, currency=None, response_target_minutes=None,
                          fulfilment_target_minutes=None)
    assert orderable.may_be_ordered_by(frozenset({"staff"})) and not orderable.may_be_ordered_by(frozenset({"x"}))


def test_a_category_name_must_not_be_empty():
    with pytest.raises(InvalidValue, match="must not be empty"):
        Category.create(id="c", name="  ", at=AT)
    category = Category.create(id="c", name=" Hardware ", at=AT, description=" Things ")
    assert (category.name, category.description, category.position) == ("Hardware", "Things", 0)
