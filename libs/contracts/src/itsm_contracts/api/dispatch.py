"""Dispatch resources as the requests service serves them and the gateway re-exposes them: rules (which group gets
a record; the first enabled rule that matches, in position order, wins), each group's method (who in the group),
a dry run, and the decisions made."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.incidents import Name, Priority, Ref
from itsm_contracts.api.values import RecordId, WholeNumber
from itsm_contracts.events.requests import DispatchedRecordType, DispatchMethod

MAX_VALUES = 100  # accepted values per condition
MAX_POSITION = 100_000
Value = Annotated[str, Field(min_length=1, max_length=255)]
Values = Annotated[list[Value], Field(min_length=1, max_length=MAX_VALUES)]
RecordTypes = Annotated[list[DispatchedRecordType], Field(min_length=1, max_length=3,
                                                          description="the records the rule assigns")]
Position = Annotated[WholeNumber, Field(ge=1, le=MAX_POSITION, description=(
    "evaluation order, from 1; the others move to make room (past the end: last)"))]


class DispatchConditions(BaseModel):
    """What a record must be for the rule to match: each condition given lists the values accepted (text compared
    ignoring case), and every condition given must hold; none given matches every record of the rule's types."""

    model_config = ConfigDict(extra="forbid")

    category: Values | None = None
    business_service: Values | None = Field(default=None, description="the service's name or id as the record names it")
    ci_class: Values | None = Field(default=None, description="the class of the record's CI (server, database...)")
    ci_owner_group: Values | None = Field(default=None, description="the owner group of the record's CI")
    priority: Annotated[list[Priority], Field(min_length=1, max_length=5)] | None = None
    requester_location: Values | None = Field(default=None, description="the location of the caller or requester")
    task: Values | None = Field(default=None, description="a task's name (record type task): the parallel tasks of "
                                                          "one requested item may go to different groups")

    def given(self) -> dict[str, list]:
        return self.model_dump(exclude_none=True)


class DispatchRuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    position: Position | None = Field(default=None, description="where it goes (default: last)")
    description: str = Field(default="", max_length=2_000)
    record_types: RecordTypes
    conditions: DispatchConditions = DispatchConditions()
    assignment_group: Name
    enabled: bool = True

    def fields(self) -> dict:
        return {**self.model_dump(exclude={"conditions"}), "conditions": self.conditions.given()}


class DispatchRuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    position: Position | None = None
    description: str | None = Field(default=None, max_length=2_000)
    record_types: RecordTypes | None = None
    conditions: DispatchConditions | None = Field(default=None, description="replaces the rule's conditions whole")
    assignment_group: Name | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> DispatchRuleUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        changes = self.model_dump(exclude_unset=True, exclude={"conditions"})
        if "conditions" in self.model_fields_set:
            changes["conditions"] = self.conditions.given() if self.conditions is not None else None
        return changes


class DispatchRulePublic(BaseModel):
    id: str
    name: str
    position: int
    description: str
    record_types: list[DispatchedRecordType]
    conditions: dict[str, list[str | int]]
    assignment_group: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int = Field(description="also the ETag; a decision names the version that made it")


class DispatchRuleList(BaseModel):
    items: list[DispatchRulePublic] = Field(description="in evaluation order")


class DispatchDryRun(BaseModel):
    """A record as dispatch would see it: nothing is written, and round robin's turn does not move."""

    model_config = ConfigDict(extra="forbid")

    record_type: DispatchedRecordType
    category: Ref | None = None
    business_service: Ref | None = None
    ci: Ref | None = Field(default=None, description="a CI's id or name: the rules see its class and owner group")
    priority: Priority | None = None
    requester: Name | None = Field(default=None, description="a username: the rules see the person's location")
    task: Ref | None = Field(default=None, description="a task's name")


class DispatchOutcome(BaseModel):
    assignment_group: str | None = Field(description="null: no rule matched")
    assignee: str | None = Field(description="whom the group's method picks (round robin: the next turn)")
    rule: str | None
    rule_version: int | None
    method: DispatchMethod | None
    rules_evaluated: int = Field(description="how many rules were looked at before one matched (or all)")


class DispatchGroupMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: DispatchMethod


class DispatchGroupPublic(BaseModel):
    name: str
    method: DispatchMethod
    last_assignee: str | None = Field(description="round robin: who had the last turn")
    members: list[str] = Field(description="the active members the method chooses from, in turn order")
    updated_at: datetime
    updated_by: str
    version: int = Field(description="also the ETag")


class DispatchGroupList(BaseModel):
    items: list[DispatchGroupPublic]


class DispatchDecisionQuery(BaseModel):
    """Which decisions, newest first: every filter given must hold."""

    record_type: DispatchedRecordType | None = None
    record_id: RecordId | None = None
    cursor: str | None = Field(default=None, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)


class DispatchDecisionPublic(BaseModel):
    """What dispatch chose for a record, and by which rule as it was then (a later edit rewrites nothing)."""

    id: str
    record_type: DispatchedRecordType
    record_id: str
    assignment_group: str | None
    assignee: str | None
    dispatch_rule: str | None = Field(description="the rule's name then; null: the group came with the record")
    dispatch_rule_version: int | None
    method: DispatchMethod | None
    decided_at: datetime


class DispatchDecisionPage(BaseModel):
    items: list[DispatchDecisionPublic]
    next_cursor: str | None = None
