"""Subscriptions (which events, filtered, go to whom over which channel) and message templates, with preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists"]
# people_in (issue 17): the usernames a field of the event (or "record.<field>") holds, e.g. a request's approvers.
RecipientKind = Literal["assignee", "assignment_group", "escalation_group", "group", "person", "endpoint", "people_in"]
Channel = Literal["email", "slack", "teams", "webhook", "pagerduty", "jira"]
Urgency = Literal["high", "low"]
EventType = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[a-z0-9_.]+$",
                                 description="an event type, e.g. itsm.incident.opened")]
FieldPath = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,5}$",
                                 description='a field of the event\'s data (dotted path), or "record.<field>" of the '
                                             'record copy (number, title, priority, state, assignment_group, '
                                             'assignee)')]
Scalar = Annotated[str, Field(max_length=200)] | int | float | bool | None
TemplateName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                    description="a template's name; an event type's name replaces its default")]
EndpointRef = Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
SubscriptionName = Annotated[str, Field(min_length=1, max_length=200)]


class Condition(BaseModel):
    """One condition of a filter; all of a subscription's must hold."""

    model_config = ConfigDict(extra="forbid")

    field: FieldPath
    op: Op
    value: Scalar | Annotated[list[Scalar], Field(max_length=100)] = Field(
        default=None, description="a list for in and not_in; for exists: true (default) or false")


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RecipientKind
    value: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="the group's name (group), the person's username (person) or the event's field "
                                  "holding usernames (people_in, e.g. approvers); nothing otherwise")


Filter = Annotated[list[Condition], Field(max_length=20)]
Recipients = Annotated[list[Recipient], Field(max_length=20)]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SubscriptionName
    event_type: EventType
    filter: Filter = []
    recipients: Recipients = Field(default=[], description='e-mail: people and groups; other channels: the '
                                                           'endpoint (none, or [{"kind": "endpoint"}])')
    channel: Channel = "email"
    endpoint_id: EndpointRef | None = Field(default=None, description="required for every channel but email")
    template: TemplateName | None = Field(default=None, description="null: the event type's (default) template")
    urgency: Urgency = Field(default="high", description="high: now; low: held for the person's digest and "
                                                         "working hours")
    enabled: bool = True


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SubscriptionName | None = None
    event_type: EventType | None = None
    filter: Filter | None = None
    recipients: Recipients | None = None
    channel: Channel | None = None
    endpoint_id: EndpointRef | None = None
    template: TemplateName | None = None
    urgency: Urgency | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> SubscriptionUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class SubscriptionPublic(BaseModel):
    id: str
    name: str
    event_type: str
    filter: list[Condition]
    recipients: list[Recipient]
    channel: Channel
    endpoint_id: str | None
    template: str | None
    urgency: Urgency
    enabled: bool
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag")


class SubscriptionPage(BaseModel):
    items: list[SubscriptionPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class SubscriptionQuery(BaseModel):
    """Subscriptions by name: every filter given must hold."""

    event_type: EventType | None = None
    enabled: bool | None = None
    cursor: str | None = Field(default=None, max_length=1000, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)


# -- templates --------------------------------------------------------------------------------------------------

Subject = Annotated[str, Field(min_length=1, max_length=1_000, description="Jinja2 (sandboxed), one line")]
Body = Annotated[str, Field(min_length=1, max_length=20_000, description="Jinja2 (sandboxed), plain text")]


class TemplateWrite(BaseModel):
    """A template: rendered with event (type, time, data, id), record (type, id, number, title, priority, state,
    assignment_group, assignee, or null), url (the record in the portal) and recipient (name). Refused (422) unless
    it renders with sample data."""

    model_config = ConfigDict(extra="forbid")

    description: Annotated[str, Field(max_length=1_000)] = ""
    subject: Subject
    body: Body


class TemplatePublic(BaseModel):
    name: str
    description: str
    subject: str
    body: str
    shipped: bool = Field(description="the shipped default (not stored): saving one by this name replaces it")
    created_at: datetime | None
    updated_at: datetime | None
    version: int = Field(description="also the ETag (0: the shipped default)")


class TemplateList(BaseModel):
    items: list[TemplatePublic]


class RecordSample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["incident", "problem", "change"] = "incident"
    id: Annotated[str, Field(min_length=1, max_length=64)] = "sample-id"
    number: Annotated[str, Field(max_length=20)] | None = None
    title: Annotated[str, Field(max_length=200)] | None = None
    priority: int | None = None
    state: Annotated[str, Field(max_length=30)] | None = None
    assignment_group: Annotated[str, Field(max_length=100)] | None = None
    assignee: Annotated[str, Field(max_length=100)] | None = None


SampleData = Annotated[dict[str, Any], Field(max_length=100, description="the event's data, as published")]


class TemplateSample(BaseModel):
    """What to render a stored template with: an event type (default: the template's name), sample data (default:
    every field of the event type's contract filled in), a record."""

    model_config = ConfigDict(extra="forbid")

    event_type: EventType | None = None
    data: SampleData | None = None
    record: RecordSample | None = None
    recipient: Annotated[str, Field(max_length=200)] | None = "Sample Person"


class TemplatePreview(TemplateSample):
    """A template not saved yet, rendered with a sample."""

    subject: Subject
    body: Body
    event_type: EventType


class RenderedMessage(BaseModel):
    subject: str
    body: str
