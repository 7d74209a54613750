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
MAX_AFFECTED_CIS = 100
AffectedCis = Annotated[list[RecordId], Field(
    max_length=MAX_AFFECTED_CIS, description="the CIs the problem affects (CMDB ids; repeats count once)")]


DetectionDimension = Literal["ci", "business_service", "category"]


class BusinessServiceRef(BaseModel):
    id: str
    name: str
    criticality: int | None = None


class ProblemCreate(BaseModel):
    short_description: str = Field(min_length=1, max_length=160)
    description: str = Field(default="", max_length=32_000)
    impact: Level = 3
    urgency: Level = 3
    assignee: Name | None = None
    assignment_group: Name | None = None
    related_incidents: RelatedIncidents = []
    affected_cis: AffectedCis = []


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
    affected_cis: AffectedCis | None = None
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
    affected_cis: list[str] = []
    business_services: list[BusinessServiceRef] = Field(
        default=[], description="the live business services that depend on the affected CIs (the CMDB's graph, "
                                "as this service last heard of it)")
    known_error_id: str | None = Field(default=None, description="its known error, once published")
    known_error_number: str | None = None
    workaround: str | None = Field(default=None, description="its published known error's workaround (none once "
                                                             "retired): what an agent on a linked incident can do now")
    detection_rule_id: str | None = Field(default=None, description="the detection rule that opened it, if one did")
    detected_on: DetectionDimension | None = None
    detected_value: str | None = Field(default=None, description="the CI, business service or category counted")


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


# -- known errors ------------------------------------------------------------------------------

KnownErrorState = Literal["published", "retired"]


class KnownErrorPublish(BaseModel):
    """POST /problems/{id}/known-error: document the problem as a known error (its root cause must be written
    down first). Publishing again revises it: the new workaround goes to the open linked incidents again."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=160,
                              description="defaults to the problem's short description")
    symptoms: str = Field(min_length=1, max_length=16_000, description="what the people affected see")
    workaround: str = Field(min_length=1, max_length=16_000, description="how to restore service until the fix")
    affected_cis: AffectedCis | None = Field(default=None, description="defaults to the problem's affected CIs")


class KnownErrorRetire(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4_000)


class KnownErrorPublic(BaseModel):
    id: str
    number: str
    problem_id: str
    problem_number: str
    title: str
    symptoms: str
    workaround: str
    root_cause: str
    cause_code: CauseCode
    affected_cis: list[str]
    state: KnownErrorState
    revision: int = Field(description="1 when first published, one more each time it is revised")
    published_at: datetime
    published_by: str
    retired_at: datetime | None = None
    retired_reason: str | None = None
    version: int = Field(description="also the ETag")


class KnownErrorPage(BaseModel):
    items: list[KnownErrorPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class KnownErrorQuery(BaseModel):
    """Which known errors, newest first: every filter given must hold."""

    state: list[KnownErrorState] = []
    ci_id: RecordId | None = Field(default=None, description="known errors affecting this CI")
    cursor: str | None = Field(default=None, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)


# -- detection ---------------------------------------------------------------------------------

class DetectionRuleCreate(BaseModel):
    """N incidents on the same CI, business service or category within a window open a candidate problem
    that links them (and each later one, while it is open)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    dimension: DetectionDimension
    threshold: int = Field(ge=2, le=MAX_RELATED_INCIDENTS, description="how many incidents (N)")
    window_minutes: int = Field(ge=1, le=43_200, description="within how long (up to 30 days)")
    enabled: bool = True
    impact: Level = 2
    urgency: Level = 2
    assignment_group: Name | None = Field(default=None, description="who gets the candidate problem")


class DetectionRuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    threshold: int | None = Field(default=None, ge=2, le=MAX_RELATED_INCIDENTS)
    window_minutes: int | None = Field(default=None, ge=1, le=43_200)
    enabled: bool | None = None
    impact: Level | None = None
    urgency: Level | None = None
    assignment_group: Name | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> DetectionRuleUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class DetectionRulePublic(BaseModel):
    id: str
    name: str
    dimension: DetectionDimension
    threshold: int
    window_minutes: int
    enabled: bool
    impact: int
    urgency: int
    assignment_group: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int = Field(description="also the ETag")


class DetectionRuleList(BaseModel):
    items: list[DetectionRulePublic]


class LinkSuggestion(BaseModel):
    """An open problem (or a published known error's problem) whose text matches an incident's."""

    incident_id: str | None = None
    problem_id: str
    problem_number: str
    short_description: str
    state: ProblemState
    known_error_id: str | None = None
    known_error_number: str | None = None
    workaround: str | None = None
    score: float = Field(description="full-text rank, higher is closer")


class LinkSuggestionList(BaseModel):
    items: list[LinkSuggestion]


# -- reports -----------------------------------------------------------------------------------

AGE_BUCKETS = ("0-7d", "7-30d", "30-90d", "90d+")


class ProblemAgeRow(BaseModel):
    state: ProblemState
    total: int
    by_age: dict[str, int] = Field(description=f"how many opened within each age: {', '.join(AGE_BUCKETS)}")
    oldest_opened_at: datetime | None


class ProblemAgingReport(BaseModel):
    generated_at: datetime
    rows: list[ProblemAgeRow]


class WeeklyCount(BaseModel):
    week_start: datetime
    incidents: int


class KnownErrorImpactReport(BaseModel):
    """Incidents per week on the known error's CIs, in the weeks before it was published and after."""

    known_error_id: str
    number: str
    published_at: datetime
    affected_cis: list[str]
    before: list[WeeklyCount]
    after: list[WeeklyCount]
