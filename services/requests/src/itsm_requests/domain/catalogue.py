"""The service catalogue: categories, the items requesters order (each with its form and fulfilment flow), and who
may order what.

Admins manage categories and items (Configuration: versioned records, no events). An item is never deleted, only
retired (active=false): requests name it. Its form (JSON Schema, see forms.py) and flow (flows.py) are versioned
apart from its other fields: changing either makes a new form_version, kept with who made it and when, and a
requested item names the version it was ordered with; a new price or description makes none.

Who may order an item: the members of any of its groups (the caller's token groups), everyone when it names none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from itsm_kit.domain import Configuration, InvalidValue
from itsm_requests.domain.flows import ApprovalStage, Flow, TasksStage, flow_as_json, flow_from_json
from itsm_requests.domain.forms import DEFAULT_MAX_FORM_BYTES, check_form

MAX_ITEM_GROUPS = 50
MAX_GROUP_NAME = 100  # the length of group names in tasks, approvals and dispatch
MAX_TASK_NAME = 200
MAX_TASK_DESCRIPTION = 2000
MAX_PRICE = Decimal("9999999999.99")  # Numeric(12, 2)
CURRENCY = re.compile(r"[A-Z]{3}")
EMPTY_FORM: dict[str, Any] = {"type": "object", "properties": {}}


def _text(value: Any, what: str, limit: int, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidValue(f"{what} must not be empty")
    if len(text) > limit:
        raise InvalidValue(f"{what} has at most {limit} characters, not {len(text)}")
    return text


def _minutes(value: Any, what: str) -> int | None:
    if value is not None and not (isinstance(value, int) and 0 < value <= 10_000_000):
        raise InvalidValue(f"{what} is a whole number of minutes above 0, or null")
    return value


def groups_of(groups: Iterable[str]) -> tuple[str, ...]:
    """Who may order: group names, tidied, repeats dropped, sorted; bounded in number and length."""
    names = sorted({_text(name, "a group name", MAX_GROUP_NAME) for name in groups})
    if len(names) > MAX_ITEM_GROUPS:
        raise InvalidValue(f"an item names at most {MAX_ITEM_GROUPS} groups, not {len(names)}")
    return tuple(names)


def checked_flow(stages: Any) -> list[dict[str, Any]]:
    """A flow as sent, checked (flows.flow_from_json, and names bounded as the tables keep them), as stored."""
    if not isinstance(stages, list) or not all(isinstance(stage, Mapping) for stage in stages):
        raise InvalidValue("a flow is a list of stages (objects)")
    for index, stage in enumerate(stages):
        if stage.get("kind") == "tasks" and not all(isinstance(t, Mapping) and isinstance(t.get("name"), str)
                                                     for t in stage.get("tasks") or []):
            raise InvalidValue(f"stage {index}: each task has a name", stage=index)
    flow = flow_from_json(stages)
    for index, stage in enumerate(flow):
        groups = [stage.group] if isinstance(stage, ApprovalStage) else [t.assignment_group for t in stage.tasks]
        for group in groups:
            if group is not None and not (isinstance(group, str) and 0 < len(group.strip()) <= MAX_GROUP_NAME):
                raise InvalidValue(f"stage {index}: a group name has 1 to {MAX_GROUP_NAME} characters", stage=index)
        if isinstance(stage, TasksStage):
            for task in stage.tasks:
                _text(task.name, f"stage {index}: a task's name", MAX_TASK_NAME)
                if not isinstance(task.description, str) or len(task.description) > MAX_TASK_DESCRIPTION:
                    raise InvalidValue(f"stage {index}: a task's description is text of at most "
                                       f"{MAX_TASK_DESCRIPTION} characters", stage=index)
    return flow_as_json(flow)


def _price(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise InvalidValue(f"a price is a number, not {value!r}") from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE or price != price.quantize(Decimal("0.01")):
        raise InvalidValue(f"a price is 0 to {MAX_PRICE} with at most two decimals, not {value}")
    return price.quantize(Decimal("0.01"))


CATEGORY_FIELDS = frozenset({"name", "description", "position"})


@dataclass
class Category(Configuration):
    id: str
    name: str
    description: str
    position: int
    created_at: datetime
    updated_at: datetime
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = CATEGORY_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = CATEGORY_FIELDS

    @classmethod
    def create(cls, *, id: str, name: str, at: datetime, description: str = "", position: int = 0) -> Category:
        category = cls(id=id, name=name, description=description, position=position, created_at=at, updated_at=at)
        for name_, value in category._normalised(category.__dict__).items():
            setattr(category, name_, value)
        return category

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        tidy = {k: v for k, v in changes.items() if k in CATEGORY_FIELDS}
        if "name" in tidy:
            tidy["name"] = _text(tidy["name"], "a category's name", 100)
        if "description" in tidy:
            tidy["description"] = _text(tidy["description"], "a category's description", 2000, required=False)
        return tidy


ITEM_FIELDS = frozenset({"name", "category_id", "short_description", "description", "form", "flow", "groups",
                         "price", "currency", "delivery_hours", "response_target_minutes",
                         "fulfilment_target_minutes", "active"})
ITEM_NOT_NULL = frozenset({"name", "category_id", "short_description", "description", "form", "flow", "groups",
                           "active"})


@dataclass(frozen=True)
class ItemVersion:
    """One version of an item's form and flow, as it was made (kept for ever: requested items name it)."""

    item_id: str
    form_version: int
    form: dict[str, Any]
    flow: list[dict[str, Any]]
    created_at: datetime
    created_by: str


@dataclass
class CatalogItem(Configuration):
    id: str
    name: str
    category_id: str
    short_description: str
    description: str
    active: bool
    groups: list[str]
    price: Decimal | None
    currency: str | None
    delivery_hours: int | None
    response_target_minutes: int | None
    fulfilment_target_minutes: int | None
    form_version: int
    form: dict[str, Any]
    flow: list[dict[str, Any]]
    updated_by: str
    created_at: datetime
    updated_at: datetime
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = ITEM_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = ITEM_NOT_NULL

    @classmethod
    def create(cls, *, id: str, name: str, category_id: str, at: datetime, actor: str, short_description: str,
               description: str = "", form: Mapping[str, Any] | None = None, flow: list[Any] | None = None,
               groups: Iterable[str] = (), price: Any = None, currency: str | None = None,
               delivery_hours: int | None = None, response_target_minutes: int | None = None,
               fulfilment_target_minutes: int | None = None, active: bool = True,
               max_form_bytes: int = DEFAULT_MAX_FORM_BYTES) -> CatalogItem:
        form = dict(EMPTY_FORM if form is None else form)
        check_form(form, max_bytes=max_form_bytes)
        item = cls(id=id, name=name, category_id=category_id, short_description=short_description,
                   description=description, active=active, groups=list(groups), price=price, currency=currency,
                   delivery_hours=delivery_hours, response_target_minutes=response_target_minutes,
                   fulfilment_target_minutes=fulfilment_target_minutes, form_version=1, form=form,
                   flow=list(flow or []), updated_by=actor, created_at=at, updated_at=at)
        for name_, value in item._normalised(item.__dict__).items():
            setattr(item, name_, value)
        item._check()
        return item

    def update(self, changes: Mapping[str, Any], at: datetime, *, actor: str | None = None,
               max_form_bytes: int = DEFAULT_MAX_FORM_BYTES) -> None:
        """A new version when anything changed; a new form_version when the form or the flow did."""
        if changes.get("form") is not None:
            check_form(changes["form"], max_bytes=max_form_bytes)
        before = (self.form, self.flow)
        super().update(changes, at, actor=actor)
        if (self.form, self.flow) != before:
            self.form_version += 1

    def current_version(self) -> ItemVersion:
        return ItemVersion(item_id=self.id, form_version=self.form_version, form=self.form, flow=self.flow,
                           created_at=self.updated_at, created_by=self.updated_by)

    def may_be_ordered_by(self, groups: frozenset[str]) -> bool:
        return may_order(self.groups, groups)

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        tidy = {k: v for k, v in changes.items() if k in ITEM_FIELDS}
        if "name" in tidy:
            tidy["name"] = _text(tidy["name"], "an item's name", 200)
        if "short_description" in tidy:
            tidy["short_description"] = _text(tidy["short_description"], "an item's short description", 300)
        if "description" in tidy:
            tidy["description"] = _text(tidy["description"], "an item's description", 20_000, required=False)
        if "form" in tidy:
            tidy["form"] = dict(tidy["form"])
        if "flow" in tidy:
            tidy["flow"] = checked_flow(tidy["flow"])
        if "groups" in tidy:
            tidy["groups"] = list(groups_of(tidy["groups"]))
        if "price" in tidy:
            tidy["price"] = _price(tidy["price"])
        if tidy.get("currency") is not None:
            tidy["currency"] = currency = str(tidy["currency"]).strip().upper()
            if not CURRENCY.fullmatch(currency):
                raise InvalidValue(f"a currency is an ISO 4217 code of three letters (EUR, USD), not {currency!r}")
        if tidy.get("delivery_hours") is not None and not (isinstance(tidy["delivery_hours"], int)
                                                           and 0 <= tidy["delivery_hours"] <= 100_000):
            raise InvalidValue("delivery_hours is a whole number of hours from 0, or null")
        for name in ("response_target_minutes", "fulfilment_target_minutes"):
            if name in tidy:
                _minutes(tidy[name], name)
        return tidy

    def _check(self) -> None:
        if (self.price is None) != (self.currency is None):
            raise InvalidValue("a price and its currency go together: give both, or neither")
        if (self.response_target_minutes is not None and self.fulfilment_target_minutes is not None
                and self.response_target_minutes > self.fulfilment_target_minutes):
            raise InvalidValue("the response target cannot be later than the fulfilment target")


def may_order(item_groups: Iterable[str], groups: frozenset[str]) -> bool:
    """Members of any of the item's groups may order it; anyone may when it names none."""
    item_groups = tuple(item_groups)
    return not item_groups or not groups.isdisjoint(item_groups)


@dataclass(frozen=True)
class Orderable:
    """An item as the requests part orders it: its current form and flow, and what a requested item copies."""

    id: str
    name: str
    category: str | None
    active: bool
    groups: frozenset[str]
    form_version: int
    form: Mapping[str, Any]
    flow: Flow
    price: Decimal | None = None
    currency: str | None = None
    response_target_minutes: int | None = None
    fulfilment_target_minutes: int | None = None
    delivery_hours: int | None = None
    short_description: str = field(default="")

    def may_be_ordered_by(self, groups: frozenset[str]) -> bool:
        return may_order(self.groups, groups)
