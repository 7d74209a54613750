"""The directory (people, groups, members; SCIM import) as the notifications service serves it and the gateway
re-exposes it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.values import WholeNumber

MAX_GROUP_MEMBERS = 1000
# The identity provider's subject (what incidents name as assignee): e-mail-like names included, never a slash,
# `?`, `#`, space or control character, so that it is safe in a path.
Username = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")]
GroupName = Annotated[str, Field(min_length=1, max_length=100)]
PersonName = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(min_length=3, max_length=320, description="one e-mail address")]
ChatHandle = Annotated[str, Field(max_length=100, description="e.g. a Slack member id or @handle")]
Timezone = Annotated[str, Field(min_length=1, max_length=64, description="an IANA timezone name, e.g. Europe/Paris")]
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, 24-hour")]
Weekday = Annotated[WholeNumber, Field(ge=1, le=7, description="ISO weekday: 1 Monday .. 7 Sunday")]
# A members list names people by id or by username.
MemberRef = Annotated[str, Field(min_length=1, max_length=100, description="a person's id or username")]
Search = Annotated[str, Field(min_length=1, max_length=100, description="a part of the name, username or e-mail")]
# Issue 17: who approves what a person requests, and where they are (dispatch rules route by it).
Manager = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$",
                               description="the manager's username: who approves what this person requests")]
Location = Annotated[str, Field(min_length=1, max_length=200, description="a site name, e.g. Berlin (dispatch rules "
                                                                           "may route by the requester's location)")]


class WorkingHours(BaseModel):
    """When a person is at work, in their timezone; an end before the start runs overnight (start and end differ)."""

    model_config = ConfigDict(extra="forbid")

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: Clock
    end: Clock


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    name: PersonName
    email: Email | None = None
    chat_handle: ChatHandle | None = None
    timezone: Timezone = "UTC"
    working_hours: WorkingHours | None = Field(default=None, description="null: reachable at any hour")
    active: bool = True
    manager: Manager | None = None
    location: Location | None = None


class PersonUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username | None = None
    name: PersonName | None = None
    email: Email | None = None
    chat_handle: ChatHandle | None = None
    timezone: Timezone | None = None
    working_hours: WorkingHours | None = None
    active: bool | None = None
    manager: Manager | None = None
    location: Location | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> PersonUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class PersonBrief(BaseModel):
    id: str
    username: str
    name: str
    email: str | None


class PersonPublic(PersonBrief):
    chat_handle: str | None
    timezone: str
    working_hours: WorkingHours | None
    active: bool
    manager: str | None = Field(default=None, description="the manager's username: who approves their requests")
    location: str | None = Field(default=None, description="a site name")
    scim_id: str | None = Field(description="the identity provider's id, when the SCIM import keeps this person")
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag")


class PersonPage(BaseModel):
    items: list[PersonPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class PersonQuery(BaseModel):
    """Which people, by username: every filter given must hold."""

    q: Search | None = None
    username: Username | None = None
    active: bool | None = None
    cursor: str | None = Field(default=None, max_length=1000, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)


MemberList = Annotated[list[MemberRef], Field(max_length=MAX_GROUP_MEMBERS,
                                              description="people by id or username (repeats count once)")]


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: GroupName
    description: str = Field(default="", max_length=2000)
    email: Email | None = Field(default=None, description="a shared mailbox, told besides the members")
    members: MemberList = []


class GroupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: GroupName | None = None
    description: str | None = Field(default=None, max_length=2000)
    email: Email | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> GroupUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class GroupMembers(BaseModel):
    """PUT /groups/{id}/members: the group's members are exactly these."""

    model_config = ConfigDict(extra="forbid")

    members: MemberList


class GroupMemberAdd(BaseModel):
    """POST /groups/{id}/members: one more member."""

    model_config = ConfigDict(extra="forbid")

    member: MemberRef


class GroupSummary(BaseModel):
    id: str
    name: str
    description: str
    email: str | None
    scim_id: str | None
    member_count: int
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag (member changes move it on too)")


class GroupPublic(GroupSummary):
    members: list[PersonBrief] = Field(description="by username, active or not")


class GroupPage(BaseModel):
    items: list[GroupSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class GroupQuery(BaseModel):
    """Which groups, by name."""

    q: Search | None = None
    cursor: str | None = Field(default=None, max_length=1000, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)


class DirectoryPublished(BaseModel):
    """POST /directory/publish (issue 17): everyone and every group published again on itsm.directory."""

    people: int
    groups: int


class ScimImportResult(BaseModel):
    """What one import from the identity provider's SCIM endpoint changed."""

    created: int = Field(description="people added")
    updated: int = Field(description="people changed (adopted hand-made ones included)")
    deactivated: int = Field(description="people the identity provider no longer lists (kept, inactive)")
    groups: int = Field(description="groups added or changed (members included)")
