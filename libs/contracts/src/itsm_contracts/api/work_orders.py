"""Work-order templates (issue 17): named templates that pre-fill a record's fields and add its tasks, as the requests
service serves them and the gateway re-exposes them; and the preview and application of one to a record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.incidents import Name
from itsm_contracts.api.values import WholeNumber
from itsm_contracts.events.requests import FieldValue, TaskState

RecordType = Literal["incident", "change", "request"]
TemplateName = Annotated[str, Field(min_length=1, max_length=100)]
MAX_TASKS = 20
MAX_FIELDS = 20
MAX_DESCRIPTION = 4_000

# What a template may set, per record type: fields an agent may change with a PATCH of that record, whose values are
# text or a number (WorkOrderApplied carries no lists or times). Checked with the record's own update model, and
# those that a PATCH may not empty cannot be null. Requests: tasks only, for now (a request's fields are its
# requester's).
TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "incident": ("short_description", "description", "category", "subcategory", "impact", "urgency",
                 "assignment_group", "assignee", "affected_ci", "business_service"),
    "change": ("short_description", "description", "assignment_group", "assignee", "implementation_plan",
               "backout_plan", "test_plan"),
    "request": (),
}
FIELDS_DESCRIPTION = ("field -> value the record gets (null empties it). Incidents: " +
                      ", ".join(TEMPLATE_FIELDS["incident"]) + "; changes: " + ", ".join(TEMPLATE_FIELDS["change"]) +
                      "; requests: none (tasks only). Values follow the record's PATCH rules.")
# A value as WorkOrderApplied carries it (itsm_contracts.events.requests.FieldValue); true/false is no number here.
TemplateValue = str | WholeNumber | None
TemplateFields = Annotated[dict[str, TemplateValue], Field(max_length=MAX_FIELDS, description=FIELDS_DESCRIPTION)]


class WorkOrderTaskSpec(BaseModel):
    """A task the template adds to the record; without an assignment group the dispatch rules choose one."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    assignment_group: Name | None = Field(default=None, description="null: the dispatch rules choose the group")


TemplateTasks = Annotated[list[WorkOrderTaskSpec], Field(max_length=MAX_TASKS)]


class WorkOrderTemplateCreate(BaseModel):
    """A template pre-fills at least one field or adds at least one task."""

    model_config = ConfigDict(extra="forbid")

    name: TemplateName
    record_type: RecordType
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    fields: TemplateFields = {}
    tasks: TemplateTasks = []
    active: bool = True


class WorkOrderTemplateUpdate(BaseModel):
    """PATCH: only the fields sent change (`fields` and `tasks` are replaced whole)."""

    model_config = ConfigDict(extra="forbid")

    name: TemplateName | None = None
    record_type: RecordType | None = None
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    fields: TemplateFields | None = None
    tasks: TemplateTasks | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> WorkOrderTemplateUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class WorkOrderTemplatePublic(BaseModel):
    id: str
    name: str
    record_type: RecordType
    description: str
    fields: dict[str, FieldValue]
    tasks: list[WorkOrderTaskSpec]
    active: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int = Field(description="also the ETag; send it as If-Match when changing the template")


class WorkOrderTemplateList(BaseModel):
    items: list[WorkOrderTemplatePublic]


class WorkOrderTemplateQuery(BaseModel):
    record_type: RecordType | None = None
    active: bool | None = None


class WorkOrderRequest(BaseModel):
    """Which template to apply to the record (or preview on it)."""

    model_config = ConfigDict(extra="forbid")

    template: TemplateName = Field(description="the template's id or its name")


# The record as the gateway read it (as the caller): its members that are text, numbers, true/false or null.
RecordValue = str | int | bool | None


class WorkOrderCall(WorkOrderRequest):
    """The gateway's call to the requests service: the template, and the record as the caller may see it (what the
    preview compares with, and what dispatch rules look at for a task without a group)."""

    record: Annotated[dict[str, RecordValue], Field(max_length=200)] = {}


class FieldChange(BaseModel):
    """One field the template sets: its value now and what applying the template would make it."""

    model_config = ConfigDict(populate_by_name=True)

    field: str
    from_: Any = Field(alias="from", description="the record's value now")
    to: FieldValue = Field(description="the template's value")
    changed: bool = Field(description="false: the record already has this value (applying changes nothing here)")


class TaskPreview(BaseModel):
    name: str
    description: str
    assignment_group: str | None = Field(description="the template's group; for a task without one, the group the "
                                         "dispatch rules would choose now (null: no rule matches)")
    dispatch_rule: str | None = Field(default=None, description="the rule that would choose the group of a task "
                                      "without one (applying decides again, and picks the person too)")


class WorkOrderPreview(BaseModel):
    """What applying the template would do to the record; nothing is written."""

    template: str
    template_id: str
    record_type: RecordType
    record_id: str
    record_version: int | None = Field(default=None, description="the record's version the preview was made from: "
                                       "send it as If-Match when applying, to apply only over what you saw")
    fields: list[FieldChange]
    tasks: list[TaskPreview]


class AppliedTask(BaseModel):
    id: str
    number: str
    name: str
    assignment_group: str | None
    assignee: str | None
    state: TaskState


class WorkOrderApplication(BaseModel):
    """The template was applied: its tasks exist; the record's fields follow within moments (the record's own service
    sets them on itsm.work_order.applied and writes a timeline line naming the template)."""

    template: str
    template_id: str
    record_type: RecordType
    record_id: str
    fields: dict[str, FieldValue]
    tasks: list[AppliedTask]
    applied_at: datetime
