"""The service catalogue (issue 17): categories and the items requesters order, each with its form (a JSON Schema,
Draft 2020-12, that frontends render) and its fulfilment flow; as the requests service serves them and the gateway
re-exposes them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.values import RecordId, WholeNumber

MAX_ITEM_GROUPS = 50
MAX_STAGES = 20
MAX_TASKS_PER_STAGE = 20
CategoryName = Annotated[str, Field(min_length=1, max_length=100)]
ItemName = Annotated[str, Field(min_length=1, max_length=200)]
GroupName = Annotated[str, Field(min_length=1, max_length=100)]
Position = Annotated[WholeNumber, Field(ge=0, le=1_000_000, description="order in the catalogue (lowest first)")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code: EUR, USD, GBP")]
Price = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2,
                                 description="in `currency`; sent and answered as a decimal string or number")]
Minutes = Annotated[WholeNumber, Field(ge=1, le=10_000_000)]
Hours = Annotated[WholeNumber, Field(ge=0, le=100_000)]
Form = Annotated[dict[str, Any], Field(
    description='a JSON Schema (Draft 2020-12) object schema: {"type": "object", "properties": {...}, "required": '
                '[...]}; types, enum, if/then/else and dependentRequired, formats (date, email); $ref only to its own '
                'parts ("#/$defs/..."); `pattern`s in RE2 syntax (no look-around or back-references)')]
Search = Annotated[str, Field(min_length=1, max_length=100, description="a part of the name or descriptions")]


class CatalogTask(BaseModel):
    """A task of a tasks stage; without an assignment group the dispatch rules choose one."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    assignment_group: GroupName | None = None


class ApprovalStage(BaseModel):
    """Approval by the requester's manager, or by a group's members (`any` one of them, or `all`)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["approval"]
    approver: Literal["manager", "group"]
    group: GroupName | None = Field(default=None, description="the approving group (approver group)")
    rule: Literal["any", "all"] = "any"


class TasksStage(BaseModel):
    """Tasks opened at once (in parallel); the stage is done when every one is."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tasks"]
    tasks: list[CatalogTask] = Field(min_length=1, max_length=MAX_TASKS_PER_STAGE)


FlowStage = Annotated[ApprovalStage | TasksStage, Field(discriminator="kind")]
Flow = Annotated[list[FlowStage], Field(max_length=MAX_STAGES,
                                        description="stages run one after another; empty: fulfilled when ordered")]
Groups = Annotated[list[GroupName], Field(max_length=MAX_ITEM_GROUPS,
                                          description="who may order: members of any of these groups (token "
                                                      "groups); empty: everyone")]


def _changes_of(model: BaseModel) -> dict:
    if not model.model_fields_set:
        raise ValueError("name at least one field to change")
    return model.model_dump(exclude_unset=True)


# --- Categories
class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CategoryName
    description: str = Field(default="", max_length=2000)
    position: Position = 0


class CategoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CategoryName | None = None
    description: str | None = Field(default=None, max_length=2000)
    position: Position | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> CategoryUpdate:
        _changes_of(self)
        return self

    def changes(self) -> dict:
        return _changes_of(self)


class CategoryPublic(BaseModel):
    id: str
    name: str
    description: str
    position: int
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag")


class CategoryPage(BaseModel):
    items: list[CategoryPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class CategoryQuery(BaseModel):
    """Categories in catalogue order (position, then id). A requester's list holds those with an item they may
    order."""

    cursor: str | None = Field(default=None, max_length=1000, description="`next_cursor` of the page before")
    limit: int = Field(default=100, ge=1, le=200)


# --- Items
class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ItemName
    category_id: RecordId
    short_description: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    form: Form = Field(default_factory=lambda: {"type": "object", "properties": {}})
    flow: Flow = []
    groups: Groups = []
    price: Price | None = None
    currency: Currency | None = None
    delivery_hours: Hours | None = Field(default=None, description="expected delivery time, in hours")
    response_target_minutes: Minutes | None = Field(default=None, description="SLA: respond within")
    fulfilment_target_minutes: Minutes | None = Field(default=None, description="SLA: fulfil within")
    active: bool = True


class ItemUpdate(BaseModel):
    """Only what is sent changes; a new form or flow makes a new form_version (requests ordered before keep
    theirs). Items are never deleted: retire one with active=false."""

    model_config = ConfigDict(extra="forbid")

    name: ItemName | None = None
    category_id: RecordId | None = None
    short_description: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    form: Form | None = None
    flow: Flow | None = None
    groups: Groups | None = None
    price: Price | None = None
    currency: Currency | None = None
    delivery_hours: Hours | None = None
    response_target_minutes: Minutes | None = None
    fulfilment_target_minutes: Minutes | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> ItemUpdate:
        _changes_of(self)
        return self

    def changes(self) -> dict:
        return _changes_of(self)


class ItemSummary(BaseModel):
    id: str
    name: str
    category_id: str
    short_description: str
    price: Decimal | None
    currency: str | None
    delivery_hours: int | None
    active: bool
    form_version: int
    version: int


class ItemPublic(ItemSummary):
    description: str
    form: dict[str, Any]
    flow: list[dict[str, Any]]
    groups: list[str]
    response_target_minutes: int | None
    fulfilment_target_minutes: int | None
    updated_by: str
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag")


class ItemPage(BaseModel):
    items: list[ItemSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ItemQuery(BaseModel):
    """Items by name: every filter given must hold. A requester's list holds only active items they may order."""

    q: Search | None = None
    category_id: RecordId | None = None
    active: bool | None = None
    cursor: str | None = Field(default=None, max_length=1000, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)


class ItemVersionPublic(BaseModel):
    """One version of an item's form and flow, as it was made (requested items name the one they were ordered
    with)."""

    item_id: str
    form_version: int
    form: dict[str, Any]
    flow: list[dict[str, Any]]
    created_at: datetime
    created_by: str
