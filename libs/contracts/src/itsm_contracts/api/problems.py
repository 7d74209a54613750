"""Problem resources as the problems service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.incidents import Level, Name
from itsm_contracts.api.values import RecordId
from itsm_contracts.events.problems import CauseCode, ProblemState, ResolutionCode

IncidentRef = Annotated[RecordId, Field(description="an incident id")]
ChangeRef = Annotated[RecordId, Field(description="the change request that fixes the problem (its id)")]
MAX_RELATED_INCIDENTS = 200
RelatedIncidents = Annotated[list[IncidentRef], Field(
    max_length=MAX_RELATED_INCIDENTS, description="the incidents this problem causes (ids; repeats count once)")]


class ProblemCreate(BaseModel):
    short_description: str = Field(min_length=1, max_length=160)
    description: str = Field(default="", max_length=32_000)
    impact: Level = 3
    urgency: Level = 3
    assignee: Name | None = None
    assignment_group: Name | None = None
    related_incidents: RelatedIncidents = []


class ProblemUpdate(BaseModel):
    """PATCH: only the fields sent change; null empties an optional field. Impact or urgency takes the
    priority from the matrix again; related_incidents replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    short_description: str | None = Field(default=None, min_length=1, max_length=160)
    description: str | None = Field(default=None, max_length=32_000)
    impact: Level | None = None
    urgency: Level | None = None
    assignee: Name | None = None
    assignment_group: Name | None = None
    related_incidents: RelatedIncidents | None = None
    fix_change_id: ChangeRef | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> ProblemUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class ProblemMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: ProblemState


class ProblemPublic(BaseModel):
    id: str
    number: str
    short_description: str
    description: str
    state: ProblemState
    impact: int
    urgency: int
    priority: int = Field(description="1 Critical .. 5 Planning, from impact and urgency")
    opened_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag; send it as If-Match when changing the problem")
    opened_by: str = Field(description='the user who opened it ("system" for problems from before it was kept)')
    assignee: str | None
    assignment_group: str | None
    related_incidents: list[str]
    root_cause: str | None = Field(default=None, description="what causes the incidents, once identified")
    cause_code: CauseCode | None = None
    fix_change_id: str | None = Field(default=None, description="the change request that fixes it")
    resolution_code: ResolutionCode | None = None
    resolution_notes: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None


class ProblemPage(BaseModel):
    items: list[ProblemPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ProblemQuery(BaseModel):
    """Which problems, newest first: every filter given must hold."""

    state: list[ProblemState] = []
    assignee: Name | None = None
    assignment_group: Name | None = None
    incident_id: IncidentRef | None = Field(default=None, description="problems whose related_incidents include it")
    cursor: str | None = Field(default=None, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)


class RootCause(BaseModel):
    """POST /problems/{id}/root-cause: the cause found, in assess, root cause analysis or fix in progress."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=32_000)
    cause_code: CauseCode


class ProblemResolution(BaseModel):
    """POST /problems/{id}/resolve. fix_applied needs a root cause; resolve_linked_incidents asks the incidents
    service (through the itsm.problem.resolved event) to resolve the open linked incidents with these notes."""

    model_config = ConfigDict(extra="forbid")

    resolution_code: ResolutionCode
    notes: str = Field(min_length=1, max_length=4_000)
    resolve_linked_incidents: bool = False


class IncidentLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: IncidentRef


class ProblemActivityEntry(BaseModel):
    """One line of a problem's timeline: opened, a field change, a comment or a work note."""

    id: int
    problem_id: str
    at: datetime
    actor: str = Field(description='a user id or "system"')
    kind: Literal["opened", "field", "comment", "work_note"]
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    text: str | None = Field(default=None, description="a comment or work note; the short description when opened")


class ProblemActivityPage(BaseModel):
    items: list[ProblemActivityEntry]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
