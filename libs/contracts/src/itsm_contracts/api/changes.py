"""Change request resources as the changes service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.incidents import Name, Ref
from itsm_contracts.api.values import Instant, RecordId
from itsm_contracts.events.changes import ChangeState, ChangeType

Decision = Literal["approve", "reject"]
CiId = Annotated[RecordId, Field(description="a CMDB CI id")]
MAX_AFFECTED_CIS = 100
AffectedCis = Annotated[list[CiId], Field(max_length=MAX_AFFECTED_CIS,
                                          description="the CIs the change touches (CMDB ids; repeats count once)")]
Comment = Annotated[str, Field(min_length=1, max_length=4_000)]


class ChangeCreate(BaseModel):
    short_description: str = Field(min_length=1, max_length=160)
    description: str = Field(default="", max_length=32_000)
    change_type: ChangeType
    planned_start: Instant | None = None
    planned_end: Instant | None = Field(default=None, description="must be after planned_start")
    assignee: Name | None = None
    assignment_group: Name | None = None
    affected_cis: AffectedCis = []


class ChangeUpdate(BaseModel):
    """PATCH: only the fields sent change; null empties an optional field (a scheduled change keeps its window)."""

    model_config = ConfigDict(extra="forbid")

    short_description: str | None = Field(default=None, min_length=1, max_length=160)
    description: str | None = Field(default=None, max_length=32_000)
    planned_start: Instant | None = None
    planned_end: Instant | None = None
    assignee: Name | None = None
    assignment_group: Name | None = None
    affected_cis: AffectedCis | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> ChangeUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class ChangeMove(BaseModel):
    """Move a change along its type's path. Authorize -> scheduled is not a move: an approval makes it."""

    model_config = ConfigDict(extra="forbid")

    state: ChangeState
    reason: Comment | None = Field(default=None, description="why (kept on the event), e.g. for a cancellation")


class ChangeDecision(BaseModel):
    """A change manager's decision on a change awaiting authorization: approve schedules it, reject sends it
    back to new."""

    model_config = ConfigDict(extra="forbid")

    decision: Decision
    comment: Comment | None = Field(default=None, description="required to reject: what must change")

    @model_validator(mode="after")
    def _rejection_says_why(self) -> ChangeDecision:
        if self.decision == "reject" and not (self.comment or "").strip():
            raise ValueError("a rejection needs a comment saying what must change")
        return self


class ChangeApproval(BaseModel):
    approver: str = Field(description="the user who decided")
    decision: Decision
    comment: str | None
    at: datetime


class ChangePublic(BaseModel):
    id: str
    number: str
    short_description: str
    description: str
    change_type: ChangeType
    state: ChangeState
    planned_start: datetime | None
    planned_end: datetime | None
    requested_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag; send it as If-Match when changing the change")
    requested_by: str = Field(description='the user who requested it ("system" for changes from before it was kept)')
    assignee: str | None
    assignment_group: str | None
    affected_cis: list[str]
    approvals: list[ChangeApproval] = Field(description="every decision taken on it, oldest first")


class ChangePage(BaseModel):
    items: list[ChangePublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ChangeQuery(BaseModel):
    """Which changes, newest requested first: every filter given must hold. The planned start range includes
    `from` and excludes `before` (changes with no planned start are outside any range)."""

    state: list[ChangeState] = []
    assignee: Name | None = None
    assignment_group: Name | None = None
    # Any reference an incident's affected_ci may hold (a CI id or a name): it only ever matches a stored CI id.
    affected_ci: Ref | None = Field(default=None, description="changes whose affected_cis include this CI")
    planned_start_from: Instant | None = None
    planned_start_before: Instant | None = None
    cursor: str | None = Field(default=None, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)
