"""Incident resources as the incidents service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.values import Instant, RecordId, WholeNumber

from itsm_contracts.api.cmdb import CiBrief
from itsm_contracts.api.sla import TimerPublic
from itsm_contracts.events.incidents import IncidentState

Level = Annotated[WholeNumber, Field(ge=1, le=3, description="1 high .. 3 low")]
HoldReason = Literal["awaiting_caller", "awaiting_change", "awaiting_vendor", "awaiting_problem"]
Priority = Annotated[WholeNumber, Field(ge=1, le=5, description="1 Critical, 2 High, 3 Moderate, 4 Low, 5 Planning")]
# People and groups by id or name (a directory comes later); CIs and services by CMDB id or name.
Name = Annotated[str, Field(min_length=1, max_length=100)]
Ref = Annotated[str, Field(min_length=1, max_length=255)]
Text = Annotated[str, Field(min_length=1, max_length=32_000)]
IncidentId = Annotated[str, Field(min_length=1, max_length=36)]


class IncidentContext(BaseModel):
    """Who and what an incident is about, and who works on it: optional when opening, each
    settable (or emptied with null) later."""

    caller: Name | None = None
    category: Name | None = None
    subcategory: Name | None = None
    assignment_group: Name | None = None
    assignee: Name | None = None
    affected_ci: Ref | None = None
    business_service: Ref | None = None


class IncidentCreate(IncidentContext):
    short_description: str = Field(min_length=1, max_length=160)
    description: str = Field(default="", max_length=32_000)
    impact: Level = 3
    urgency: Level = 3
    major: bool = False
    parent_id: IncidentId | None = Field(default=None, description="the parent incident; parents are top-level")


class IncidentUpdate(IncidentContext):
    """PATCH: only the fields sent change; null empties an optional field.

    Changing impact or urgency takes the priority from the matrix again (and ends a manual
    override); `priority` with `priority_override_reason` overrides it by hand, and
    `priority: null` ends an override.
    """

    model_config = ConfigDict(extra="forbid")

    short_description: str | None = Field(default=None, min_length=1, max_length=160)
    description: str | None = Field(default=None, max_length=32_000)
    impact: Level | None = None
    urgency: Level | None = None
    priority: Priority | None = None
    priority_override_reason: str | None = Field(default=None, min_length=1, max_length=500)
    major: bool | None = None
    parent_id: IncidentId | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> IncidentUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class IncidentResolve(BaseModel):
    resolution_code: str = Field(min_length=1, max_length=60)
    resolution_notes: str = Field(min_length=1, max_length=32_000)


class StateChange(BaseModel):
    """in_progress from resolved reopens (within the reopen window); on_hold needs a reason, and
    awaiting_caller a comment, which the caller sees."""

    state: Literal["in_progress", "on_hold", "closed", "canceled"]
    hold_reason: HoldReason | None = None
    comment: Text | None = None


class NoteCreate(BaseModel):
    text: Text


class ProblemRef(BaseModel):
    """The problem an incident is linked to, from the incident's side (PUT /incidents/{id}/problem)."""

    model_config = ConfigDict(extra="forbid")

    # A problem's id (the incidents service keeps 36 characters: the problems service's UUIDs).
    problem_id: Annotated[RecordId, Field(max_length=36)]


class IncidentPublic(BaseModel):
    id: str
    number: str
    short_description: str
    description: str
    state: IncidentState
    impact: int
    urgency: int
    priority: int
    priority_label: str
    origin: str
    opened_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag; send it as If-Match when changing the incident")
    dedup_key: str | None
    integration_id: str | None = Field(default=None, description="the monitoring integration whose alert opened it; "
                                       "only its alerts deduplicate onto it, acknowledge or resolve it")
    alert_count: int
    last_seen_at: datetime | None
    hold_reason: str | None
    resolved_at: datetime | None
    resolution_code: str | None
    resolution_notes: str | None
    caller: str | None
    category: str | None
    subcategory: str | None
    assignment_group: str | None
    assignee: str | None
    reassignment_count: int = Field(description="times the work moved away from a group or person who had it")
    affected_ci: str | None
    business_service: str | None
    major: bool
    parent_id: str | None
    priority_override_reason: str | None = Field(description="set while the priority is overridden by hand")
    reopen_count: int
    closed_at: datetime | None
    escalated: bool = Field(default=False, description="an SLA timer breached while the incident was open")
    escalation_group: str | None = Field(default=None, description="the breached SLA definition's escalation group")
    escalated_at: datetime | None = Field(default=None, description="the last escalation")
    problem_id: str | None = Field(default=None, description="the problem this incident is linked to (set and cleared "
                                   "by the problems service's events)")
    # From the incidents service's copy of the CMDB (fed by its events), on single reads only.
    affected_ci_details: CiBrief | None = Field(
        default=None, description="the CMDB CI `affected_ci` names (by id, or by a name one live CI has)")
    impacted_business_services: list[CiBrief] | None = Field(
        default=None, description="the live business services that depend on the affected CI, directly or not")


class IncidentPage(BaseModel):
    items: list[IncidentPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class IncidentFilter(BaseModel):
    """Which incidents: every filter given must hold. Ranges include `from` and exclude `before`."""

    state: list[IncidentState] = []
    priority: list[Priority] = []
    assignment_group: str | None = None
    assignee: str | None = None
    caller: str | None = None
    category: str | None = None
    affected_ci: str | None = None
    business_service: str | None = None
    major: bool | None = None
    parent_id: str | None = Field(default=None, description="the children of this incident")
    dedup_key: str | None = None
    escalated: bool | None = Field(default=None, description="escalated by an SLA breach (or not)")
    problem_id: str | None = Field(default=None, description="the incidents linked to this problem")
    opened_from: Instant | None = None
    opened_before: Instant | None = None
    updated_from: Instant | None = None
    updated_before: Instant | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200,
                          description="text in the number, short description or description")


class IncidentQuery(IncidentFilter):
    sort: Literal["opened_at", "updated_at", "priority"] = "opened_at"
    order: Literal["asc", "desc"] = Field(default="desc", description="priority asc puts P1 first")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=200)


class IncidentCounts(BaseModel):
    total: int
    by_state: dict[IncidentState, int] = Field(description="every state, zeros included")
    by_priority: dict[str, int] = Field(description='"1" .. "5", zeros included')


class ActivityEntry(BaseModel):
    """One line of an incident's timeline: opened, a field change, a comment or a work note."""

    id: int
    incident_id: str
    at: datetime
    actor: str = Field(description='a user id, "monitoring" or "system"')
    kind: Literal["opened", "field", "comment", "work_note"]
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    text: str | None = Field(default=None, description="a comment or work note; the short description when opened")


class ActivityPage(BaseModel):
    items: list[ActivityEntry]
    next_cursor: str | None


class IncidentAlert(BaseModel):
    """A monitoring alert attached to an incident: its opener, a repeat, or a member of its storm."""

    dedup_key: str
    status: Literal["firing", "acknowledged", "resolved"]
    severity: str
    summary: str
    group_key: str | None
    integration_id: str
    count: int = Field(description="notifications received for it on this incident")
    first_seen_at: datetime
    last_seen_at: datetime
    starts_at: datetime | None = Field(default=None, description="when its source says it started (Alertmanager's "
                                       "startsAt); with the dedup key it names the episode")


class IncidentAlertList(BaseModel):
    items: list[IncidentAlert]


class PriorityCell(BaseModel):
    impact: Level
    urgency: Level
    priority: Priority


class PriorityMatrixUpdate(BaseModel):
    cells: list[PriorityCell] = Field(min_length=9, max_length=9, description="each impact x urgency pair once")


class PriorityMatrixPublic(BaseModel):
    cells: list[PriorityCell]
    updated_at: datetime | None = Field(description="null while the default matrix is in use")
    updated_by: str | None


class IncidentView(IncidentPublic):
    """The gateway's composed incident."""

    sla_timers: list[TimerPublic] | None = Field(description="null when the SLA service could not be reached")
    partial: list[str] = Field(default=[], description="parts that could not be composed in this answer")
