"""Change request resources as the changes service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.incidents import Name, Ref
from itsm_contracts.api.values import Instant, RecordId
from itsm_contracts.events.changes import CloseCode, ChangeState, ChangeType, ConflictRelation, RiskLevel

Decision = Literal["approve", "reject"]
CiId = Annotated[RecordId, Field(description="a CMDB CI id")]
MAX_AFFECTED_CIS = 100
AffectedCis = Annotated[list[CiId], Field(max_length=MAX_AFFECTED_CIS,
                                          description="the CIs the change touches (CMDB ids; repeats count once)")]
Comment = Annotated[str, Field(min_length=1, max_length=4_000)]
BlackoutReason = Annotated[str, Field(min_length=1, max_length=4_000, description=(
    "why this emergency change must run during a blackout window; without it a blackout refuses the schedule"))]


MAX_PLAN = 32_000
Plan = Annotated[str, Field(min_length=1, max_length=MAX_PLAN)]


class ChangeCreate(BaseModel):
    """A standard change is requested from a template (template_id): what the request leaves out, the template
    fills in. Normal and emergency changes say it all themselves (short_description is required for them)."""

    short_description: str | None = Field(default=None, min_length=1, max_length=160)
    description: str | None = Field(default=None, max_length=32_000)
    change_type: ChangeType
    planned_start: Instant | None = None
    planned_end: Instant | None = Field(default=None, description="must be after planned_start")
    assignee: Name | None = None
    assignment_group: Name | None = None
    affected_cis: AffectedCis = []
    blackout_reason: BlackoutReason | None = None  # schedule (issue 15)
    # lifecycle (issue 15): plans, and the template a standard change is requested from
    implementation_plan: Plan | None = None
    backout_plan: Plan | None = None
    test_plan: Plan | None = None
    template_id: RecordId | None = Field(default=None, description="an active change template (standard changes)")


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
    blackout_reason: BlackoutReason | None = None  # schedule (issue 15)
    implementation_plan: Plan | None = None  # lifecycle (issue 15)
    backout_plan: Plan | None = None
    test_plan: Plan | None = None

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
    round: int = Field(default=0, description="the approval round it was taken in (see approval_round)")
    group: str | None = Field(default=None, description="the approval group the approver decided for")


class ChangeConflict(BaseModel):
    """Another change in the same time on the same or a dependent CI (schedule, issue 15)."""

    change_id: str = Field(description="the other change")
    number: str
    ci: str = Field(description="this change's CI")
    other_ci: str = Field(description="the other change's CI")
    relation: ConflictRelation = Field(description="how other_ci stands to ci (depends_on: other_ci depends on ci)")
    reason: str = Field(description="the conflict in words")


# -- risk, suspected incidents, success rate (issue 15) -----------------------------------------------------------

class RiskFactor(BaseModel):
    name: str = Field(description="what adds to the risk, e.g. business_services, open_p1_incidents, business_hours")
    detail: str = Field(description="the services, CIs, changes or incidents behind it, by name or number")
    points: int = Field(description="what it adds to the score (the levels are bands of the total)")


class SuspectedIncident(BaseModel):
    """An incident opened on a CI the change touched (or one depending on it) soon after implementation."""

    incident_id: str
    number: str | None
    affected_ci: str
    opened_at: datetime


SuccessRateBy = Literal["ci", "assignment_group", "change_type"]


class SuccessRateQuery(BaseModel):
    by: SuccessRateBy = Field(default="change_type", description="what to group closed changes by")


class SuccessRateRow(BaseModel):
    key: str = Field(description="the CI id, assignment group or change type ('(none)' for changes without one)")
    closed: int = Field(description="closed changes with a close code")
    successful: int = Field(description="closed successful or successful with issues")
    unsuccessful: int
    backed_out: int
    success_rate: float = Field(description="successful / closed, 0..1")


class SuccessRate(BaseModel):
    by: SuccessRateBy
    rows: list[SuccessRateRow] = Field(description="lowest success rate first")


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
    # risk (issue 15)
    risk: RiskLevel | None = Field(default=None, description="low, moderate, high or very_high; null until assessed")
    risk_factors: list[RiskFactor] = Field(default=[], description="what produced the risk, most points first")
    risk_assessed_at: datetime | None = None
    suspected_incidents: list[SuspectedIncident] = Field(
        default=[], description="incidents possibly caused by the change (opened soon after its implementation)")
    # schedule (issue 15)
    blackout_reason: str | None = Field(default=None, description="why an emergency change may run in a blackout")
    conflicts: list[ChangeConflict] = Field(
        default=[], description="scheduled or implementing changes overlapping this one on related CIs (warnings)")
    deployment: dict | None = Field(default=None, description=(
        "for a change a CI/CD pipeline recorded: deployment_id, ci, what, version, pipeline_url, started_at, "
        "finished_at, outcome"))
    # lifecycle (issue 15)
    implementation_plan: str | None = None
    backout_plan: str | None = None
    test_plan: str | None = None
    template_id: str | None = Field(default=None, description="the template a standard change was requested from")
    approval_round: int = Field(default=0, description="counts submissions into authorize; approvals of this round "
                                                       "count toward the approval rule")
    implemented_at: datetime | None = Field(default=None, description="when it entered implement")
    close_code: CloseCode | None = None
    close_notes: str | None = None
    closed_at: datetime | None = None


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


# -- schedule (issue 15): blackout and maintenance windows, the change calendar, deployments from CI/CD --------

WindowKind = Literal["blackout", "maintenance"]
MAX_WINDOW_DAYS = 366  # a window, and a calendar period, spans at most this
MAX_WINDOW_CIS = 500


class ChangeWindowCreate(BaseModel):
    """A blackout (freeze: no change is scheduled into it, emergencies with a reason aside) or a maintenance window
    (when changes are welcome), over some CIs or (no CIs) over everything."""

    model_config = ConfigDict(extra="forbid")

    kind: WindowKind
    name: str = Field(min_length=1, max_length=160)
    start: Instant
    end: Instant = Field(description=f"after start, at most {MAX_WINDOW_DAYS} days later")
    cis: list[CiId] = Field(default=[], max_length=MAX_WINDOW_CIS, description="CMDB ids in scope; empty: every CI")
    reason: str = Field(default="", max_length=4_000)


class ChangeWindowUpdate(BaseModel):
    """PATCH: only the fields sent change (send If-Match)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=160)
    start: Instant | None = None
    end: Instant | None = None
    cis: list[CiId] | None = Field(default=None, max_length=MAX_WINDOW_CIS)
    reason: str | None = Field(default=None, max_length=4_000)

    @model_validator(mode="after")
    def _something_sent(self) -> ChangeWindowUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        for name in self.model_fields_set & {"name", "start", "end", "cis", "reason"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be emptied with null")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class ChangeWindowPublic(BaseModel):
    id: str
    kind: WindowKind
    name: str
    start: datetime
    end: datetime
    cis: list[str] = Field(description="CMDB ids in scope; empty: every CI")
    reason: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag; send it as If-Match when changing or deleting the window")


class ChangeWindowQuery(BaseModel):
    """Windows overlapping [from, to) (either bound may be left open), of a kind if given, soonest first."""

    model_config = ConfigDict(populate_by_name=True)

    kind: WindowKind | None = None
    from_: Instant | None = Field(default=None, alias="from")
    to: Instant | None = None
    limit: int = Field(default=200, ge=1, le=1_000)


class CalendarQuery(BaseModel):
    """A period of the change calendar: [from, to), at most MAX_WINDOW_DAYS long."""

    model_config = ConfigDict(populate_by_name=True)

    from_: Instant = Field(alias="from")
    to: Instant

    @model_validator(mode="after")
    def _bounded(self) -> CalendarQuery:
        if self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        if (self.to - self.from_).days > MAX_WINDOW_DAYS:
            raise ValueError(f"a calendar period spans at most {MAX_WINDOW_DAYS} days")
        return self


class CalendarChange(BaseModel):
    id: str
    number: str
    short_description: str
    change_type: ChangeType
    state: ChangeState
    planned_start: datetime
    planned_end: datetime
    affected_cis: list[str]
    conflicts: list[ChangeConflict] = []


class ChangeCalendar(BaseModel):
    """What is planned in a period: changes in scheduled, implement or review whose window overlaps it, and the
    blackout and maintenance windows overlapping it."""

    from_: datetime = Field(alias="from")
    to: datetime
    changes: list[CalendarChange]
    windows: list[ChangeWindowPublic]

    model_config = ConfigDict(populate_by_name=True)


class CalendarFeedCreated(BaseModel):
    id: str
    owner: str
    created_at: datetime
    key: str = Field(description="the feed key: shown only now; it is part of the subscription URL")
    url: str = Field(description="the iCalendar URL to subscribe to (keep it secret: it reads the change calendar)")


class CalendarFeedPublic(BaseModel):
    id: str
    owner: str
    key_prefix: str = Field(description="the key's first characters, to tell feeds apart; never the key")
    created_at: datetime
    revoked_at: datetime | None


DeploymentOutcome = Literal["succeeded", "failed", "rolled_back"]


class DeploymentRecord(BaseModel):
    """A deployment a CI/CD pipeline made on a CI, recorded as an implemented standard change. `deployment_id` is
    the pipeline's own id of the run: sending it again returns the change already recorded."""

    model_config = ConfigDict(extra="forbid")

    deployment_id: str = Field(min_length=1, max_length=200)
    ci: CiId
    what: str = Field(min_length=1, max_length=160, description="what was deployed (e.g. the application)")
    version: str = Field(default="", max_length=200)
    pipeline_url: str | None = Field(default=None, max_length=2_000, pattern=r"^https?://")
    started_at: Instant
    finished_at: Instant | None = Field(default=None, description="after started_at; absent while it runs")
    outcome: DeploymentOutcome | None = Field(default=None, description="with finished_at")

    @model_validator(mode="after")
    def _finished_consistently(self) -> DeploymentRecord:
        if (self.finished_at is None) != (self.outcome is None):
            raise ValueError("finished_at and outcome come together")
        if self.finished_at is not None and self.finished_at < self.started_at:
            raise ValueError("finished_at must not be before started_at")
        return self


# -- lifecycle (issue 15): closing, the timeline, standard change templates, approval policies -------------------

class ChangeClose(BaseModel):
    """POST /changes/{id}/close: from review, with how it went."""

    model_config = ConfigDict(extra="forbid")

    close_code: CloseCode
    close_notes: Comment


class ChangeActivityEntry(BaseModel):
    """One line of a change's timeline: requested, a field change (state and approval decisions included)."""

    id: int
    change_id: str
    at: datetime
    actor: str = Field(description='a user id or "system"')
    kind: Literal["opened", "field", "comment", "work_note"]
    field: str | None = Field(default=None, description='the field; "state" for moves, "approval" for decisions')
    old_value: str | None = None
    new_value: str | None = None
    text: str | None = Field(default=None, description="for a decision: the approval group, rule and comment")


class ChangeActivityPage(BaseModel):
    items: list[ChangeActivityEntry]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


TemplateName = Annotated[str, Field(min_length=1, max_length=100)]


class ChangeTemplateCreate(BaseModel):
    """A standard change, pre-authorized: changes requested from it need no approval."""

    model_config = ConfigDict(extra="forbid")

    name: TemplateName
    short_description: str = Field(min_length=1, max_length=160)
    description: str = Field(default="", max_length=32_000)
    implementation_plan: Plan
    backout_plan: Plan
    test_plan: Plan
    assignment_group: Name | None = None
    active: bool = True


class ChangeTemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TemplateName | None = None
    short_description: str | None = Field(default=None, min_length=1, max_length=160)
    description: str | None = Field(default=None, max_length=32_000)
    implementation_plan: Plan | None = None
    backout_plan: Plan | None = None
    test_plan: Plan | None = None
    assignment_group: Name | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> ChangeTemplateUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class ChangeTemplatePublic(BaseModel):
    id: str
    name: str
    short_description: str
    description: str
    implementation_plan: str
    backout_plan: str
    test_plan: str
    assignment_group: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int = Field(description="also the ETag; send it as If-Match when changing the template")


class ChangeTemplateList(BaseModel):
    items: list[ChangeTemplatePublic]


ApprovalRule = Literal["any", "all", "majority"]
PolicyRisk = Literal["low", "moderate", "high", "very_high", "any"]
PolicyType = Literal["normal", "emergency"]  # standard changes are pre-authorized by their template
Approvers = Annotated[list[Name], Field(min_length=1, max_length=50,
                                        description="the user ids (JWT subjects) who decide for the group")]


class ApprovalPolicyCreate(BaseModel):
    """Who authorizes changes of a type and risk level ("any": every risk without its own policy, and changes
    not rated yet), and the rule their approvals must meet: any one, all, or a majority (more than half)."""

    model_config = ConfigDict(extra="forbid")

    change_type: PolicyType
    risk: PolicyRisk = "any"
    group_name: TemplateName
    approvers: Approvers
    rule: ApprovalRule = "any"


class ApprovalPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_name: TemplateName | None = None
    approvers: Approvers | None = None
    rule: ApprovalRule | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> ApprovalPolicyUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class ApprovalPolicyPublic(BaseModel):
    id: str
    change_type: PolicyType
    risk: PolicyRisk
    group_name: str
    approvers: list[str]
    rule: ApprovalRule
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int = Field(description="also the ETag; send it as If-Match when changing the policy")


class ApprovalPolicyList(BaseModel):
    items: list[ApprovalPolicyPublic]
