"""Work-order templates (issue 17): named templates that pre-fill a record's fields and add its tasks.

A template is for one record type (incident, change or request). Admins manage templates (a version, no events:
itsm_kit.domain.Configuration). A template holds only what the record's own PATCH would take: fields an agent may
change on that record type, with values its update model accepts, so applying one never asks the record's service
for what it would refuse. Requests take no fields yet (a request's fields are its requester's): tasks only.

Applying a template is a command with a preview: the preview compares the template's fields with the record as the
caller sees it and lists the tasks; applying creates the tasks here and publishes itsm.work_order.applied, on which
the record's own service sets the fields (and writes its timeline line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from itsm_contracts.api.changes import ChangeUpdate
from itsm_contracts.api.incidents import IncidentUpdate
from itsm_contracts.api.work_orders import MAX_DESCRIPTION, MAX_TASKS, TEMPLATE_FIELDS
from itsm_contracts.events.requests import WorkOrderApplied
from itsm_kit.domain import SYSTEM, Configuration, Conflict, InvalidValue, choice
from itsm_requests.domain.flows import TaskSpec


class RecordType(StrEnum):
    INCIDENT = "incident"
    CHANGE = "change"
    REQUEST = "request"


# The record's own PATCH model checks a template's values (types, lengths, ranges) ...
UPDATE_MODELS: Mapping[RecordType, type[BaseModel] | None] = {
    RecordType.INCIDENT: IncidentUpdate, RecordType.CHANGE: ChangeUpdate, RecordType.REQUEST: None}
# ... and these the record's PATCH refuses to empty (its service's NOT_NULL fields).
NOT_NULL: Mapping[RecordType, frozenset[str]] = {
    RecordType.INCIDENT: frozenset({"short_description", "description", "impact", "urgency"}),
    RecordType.CHANGE: frozenset({"short_description", "description"}),
    RecordType.REQUEST: frozenset(),
}
MAX_TASK_NAME = 200
# Who a record is for, as the dispatch rules see a task's requester (their location).
REQUESTER: Mapping[RecordType, str] = {
    RecordType.INCIDENT: "caller", RecordType.CHANGE: "requested_by", RecordType.REQUEST: "requested_for"}

TEMPLATE_ATTRIBUTES = frozenset({"name", "record_type", "description", "fields", "tasks", "active"})


def record_type_of(value: str) -> RecordType:
    return choice(RecordType, value, "a work-order template's record type")


def checked_fields(record_type: RecordType, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The values a template of this record type may set, as the record's PATCH model reads them (text trimmed);
    InvalidValue naming what it would refuse."""
    allowed = TEMPLATE_FIELDS[record_type]
    if unknown := sorted(set(fields) - set(allowed)):
        settable = ", ".join(allowed) or "no fields (tasks only)"
        raise InvalidValue(f"a {record_type} template cannot set {', '.join(unknown)}; it may set {settable}",
                           fields=unknown)
    if nulls := sorted(name for name in NOT_NULL[record_type] & set(fields) if fields[name] is None):
        raise InvalidValue(f"a {record_type}'s {', '.join(nulls)} cannot be emptied", fields=nulls)
    if not fields:
        return {}
    wanted = {name: value.strip() if isinstance(value, str) else value for name, value in fields.items()}
    try:
        checked = UPDATE_MODELS[record_type].model_validate(wanted)
    except ValidationError as exc:
        errors = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise InvalidValue(f"a {record_type} would refuse these values: "
                           + "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors) from None
    return checked.model_dump(mode="json", include=set(wanted))


def checked_tasks(tasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tasks as stored: a name, a description, a group or null (the dispatch rules choose it)."""
    if len(tasks) > MAX_TASKS:
        raise InvalidValue(f"a template adds at most {MAX_TASKS} tasks, not {len(tasks)}")
    checked = []
    for index, task in enumerate(tasks):
        name = (task.get("name") or "").strip()
        description = (task.get("description") or "").strip()
        group = (task.get("assignment_group") or "").strip() or None
        if not name or len(name) > MAX_TASK_NAME:
            raise InvalidValue(f"task {index}: a task's name is 1 to {MAX_TASK_NAME} characters", task=index)
        if len(description) > MAX_DESCRIPTION:
            raise InvalidValue(f"task {index}: a task's description is at most {MAX_DESCRIPTION} characters",
                               task=index)
        checked.append({"name": name, "description": description, "assignment_group": group})
    return checked


def dispatch_facts(record_type: RecordType, record: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """What the dispatch rules may match for a template's task without a group: the record's category as the template
    leaves it, and who the record is for."""
    merged = {**record, **fields}
    category, requester = merged.get("category"), merged.get(REQUESTER[record_type])
    return {"category": category if isinstance(category, str) else None,
            "requester": requester if isinstance(requester, str) else None}


@dataclass(frozen=True)
class FieldChange:
    """One field the template sets: the record's value now, and the template's."""

    field: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class TaskPreview:
    """A task the template would add: its group, or for one without, the group the dispatch rules would choose now
    (and the rule); applying decides again."""

    name: str
    description: str
    assignment_group: str | None
    dispatch_rule: str | None = None


@dataclass(frozen=True)
class Preview:
    fields: tuple[FieldChange, ...]
    tasks: tuple[TaskPreview, ...]

    @property
    def needs_dispatch(self) -> bool:
        return any(task.assignment_group is None for task in self.tasks)

    def dispatched(self, group: str | None, rule: str | None) -> Preview:
        """The tasks without a group shown with the dispatch rules' choice."""
        return replace(self, tasks=tuple(task if task.assignment_group is not None else
                                         replace(task, assignment_group=group, dispatch_rule=rule)
                                         for task in self.tasks))


@dataclass
class WorkOrder:
    """A template applied to a record: the event its record's service acts on. Its id is the record's (the event's
    subject and key, so one record's work orders reach its service in order); sequence 0: it is no aggregate version
    (a record may have many work orders)."""

    id: str
    events: list = field(default_factory=list)


@dataclass
class WorkOrderTemplate(Configuration):
    id: str
    name: str
    record_type: RecordType
    description: str
    fields: dict[str, Any]
    tasks: list[dict[str, Any]]
    active: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str = SYSTEM
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = TEMPLATE_ATTRIBUTES
    NOT_NULL: ClassVar[frozenset[str]] = TEMPLATE_ATTRIBUTES

    @classmethod
    def create(cls, *, id: str, name: str, record_type: str, description: str = "",
               fields: Mapping[str, Any] | None = None, tasks: Sequence[Mapping[str, Any]] = (), active: bool = True,
               at: datetime, actor: str = SYSTEM) -> WorkOrderTemplate:
        kind = record_type_of(record_type)
        template = cls(id=id, name=name, record_type=kind, description=description.strip(),
                       fields=checked_fields(kind, fields or {}), tasks=checked_tasks(tasks), active=active,
                       created_at=at, updated_at=at, updated_by=actor)
        template._check()
        return template

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        wanted = dict(changes)
        kind = record_type_of(wanted.get("record_type", self.record_type))
        if "record_type" in wanted:
            wanted["record_type"] = kind
        # The fields are checked against the record type the template will have (a PATCH may change both).
        if "fields" in wanted or "record_type" in wanted:
            wanted["fields"] = checked_fields(kind, wanted.get("fields", self.fields))
        if "tasks" in wanted:
            wanted["tasks"] = checked_tasks(wanted["tasks"])
        for name in ("name", "description"):
            if name in wanted:
                wanted[name] = wanted[name].strip()
        return wanted

    def _check(self) -> None:
        self.name = self.name.strip()
        if not self.name:
            raise InvalidValue("a work-order template's name must not be blank")
        if not self.fields and not self.tasks:
            raise InvalidValue("a work-order template pre-fills at least one field or adds at least one task")

    def dispatch_facts(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return dispatch_facts(self.record_type, record, self.fields)

    @property
    def task_specs(self) -> tuple[TaskSpec, ...]:
        return tuple(TaskSpec(name=t["name"], description=t["description"], assignment_group=t["assignment_group"])
                     for t in self.tasks)

    def check_applicable(self, record_type: str) -> None:
        """Only to its own record type (422), and only while active (409: an admin may make it active again)."""
        if record_type != self.record_type:
            raise InvalidValue(f"work-order template {self.name} is for {self.record_type}s, not {record_type}s",
                               template_record_type=str(self.record_type))
        if not self.active:
            raise Conflict(f"work-order template {self.name} is inactive: it is not applied", template_id=self.id)

    def preview(self, record_type: str, record: Mapping[str, Any]) -> Preview:
        """What applying it to the record (as the caller sees it) would do: each field from -> to, in the order the
        record type lists them, and the tasks."""
        self.check_applicable(record_type)
        order = TEMPLATE_FIELDS[self.record_type]
        changes = tuple(FieldChange(name, record.get(name), self.fields[name])
                        for name in sorted(self.fields, key=order.index))
        return Preview(fields=changes, tasks=tuple(TaskPreview(t.name, t.description, t.assignment_group)
                                                   for t in self.task_specs))

    def apply(self, record_type: str, record_id: str, tasks: Sequence[tuple[str, str]], at: datetime,
              actor: str = SYSTEM) -> WorkOrder:
        """The work order its record's service finishes (the fields); its tasks, (id, number) each, already exist."""
        self.check_applicable(record_type)
        event = WorkOrderApplied(template=self.name, record_type=self.record_type.value, record_id=record_id,
                                 fields=dict(self.fields), task_ids=[ident for ident, _ in tasks],
                                 task_numbers=[number for _, number in tasks], applied_at=at, actor=actor)
        return WorkOrder(id=record_id, events=[(0, event)])
