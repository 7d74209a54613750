"""SLA resources as the sla service serves them and the gateway re-exposes them.

Durations are ISO 8601 (`PT4H`, `P1DT2H`) or a number of seconds; a target is business
time on the definition's calendar, so `P1D` on an office calendar is 24 working hours.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from itsm_contracts.api.values import Day, Instant, Span, WholeNumber

from itsm_contracts.events.incidents import IncidentState
from itsm_contracts.events.sla import TimedRecord, TimerKind, TimerStage

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Priority = Annotated[WholeNumber, Field(ge=1, le=5)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Ref = Annotated[str, Field(min_length=1, max_length=255)]
Percent = Annotated[WholeNumber, Field(ge=1, le=99)]
HHMM = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", examples=["09:00", "24:00"])]


# -- calendars ------------------------------------------------------------------------------------

class WorkingWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: HHMM
    end: HHMM = Field(description="after start; 24:00 is the end of the day")


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Day
    name: str = Field(default="", max_length=200)


class CalendarBody(BaseModel):
    """Working hours per weekday on the calendar's own wall clock (daylight saving included), and
    holidays (whole local days off). Windows of a day must not overlap."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(min_length=1, max_length=64, examples=["Europe/Paris"], description="an IANA timezone")
    hours: dict[Weekday, list[WorkingWindow]] = Field(
        examples=[{"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]}])
    holidays: list[Holiday] = Field(default=[], max_length=2000)


class CalendarPublic(CalendarBody):
    id: str
    version: int = Field(description="also the ETag; send it as If-Match to replace the calendar")
    changed_at: datetime
    changed_by: str


class CalendarList(BaseModel):
    items: list[CalendarPublic]


# -- definitions ----------------------------------------------------------------------------------

class AppliesTo(BaseModel):
    """Every condition given must hold; within one, any listed value matches; empty matches all."""

    model_config = ConfigDict(extra="forbid")

    priorities: list[Priority] = []
    business_services: list[Ref] = []
    categories: list[Name] = []
    ci_classes: list[Name] = Field(default=[], description="the class of the incident's affected CI in the CMDB")


class GoalBody(BaseModel):
    """A response or resolution goal; conditions left out (or null) take the defaults of its kind."""

    model_config = ConfigDict(extra="forbid")

    target: Span = Field(examples=["PT4H"], description="business time on the calendar; positive")
    start_states: list[IncidentState] | None = Field(default=None, description="default: new, in_progress, on_hold")
    pause_states: list[IncidentState] | None = Field(default=None, description="default: on_hold")
    stop_states: list[IncidentState] | None = Field(
        default=None, description="default: response in_progress, on_hold, resolved, closed; resolution resolved, "
                                  "closed")
    stop_on_assignment: bool | None = Field(default=None,
                                            description="stop when a person is assigned (default: response only)")
    on_reopen: Literal["resume", "reset", "none"] | None = Field(
        default=None, description="after a stop, leaving the stop states: resume the timer (default for "
                                  "resolution), start a new one, or nothing (default for response)")
    reset_on_reassignment: bool | None = Field(
        default=None, description="a new timer when the assignment group changes from one group to another")
    retroactive_start: bool | None = Field(
        default=None, description="a timer attaching after the opening starts at the opening (default true)")


class DefinitionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    active: bool = Field(default=True, description="inactive: no new timers; open ones run on")
    applies_to: AppliesTo = AppliesTo()
    response: GoalBody | None = None
    resolution: GoalBody | None = None
    calendar_id: str | None = Field(default=None, description="a business calendar; null is 24x7")
    warning_thresholds: list[Percent] = Field(default=[50, 75, 90], max_length=10)
    escalation_group: Name | None = Field(default=None, description="the group a breach escalates the incident to")


class Goal(GoalBody):
    """A goal with every condition spelled out."""

    start_states: list[IncidentState]
    pause_states: list[IncidentState]
    stop_states: list[IncidentState]
    stop_on_assignment: bool
    on_reopen: Literal["resume", "reset", "none"]
    reset_on_reassignment: bool
    retroactive_start: bool


class DefinitionPublic(DefinitionBody):
    id: str
    version: int = Field(description="also the ETag; send it as If-Match to replace the definition")
    response: Goal | None
    resolution: Goal | None
    changed_at: datetime
    changed_by: str


class DefinitionList(BaseModel):
    items: list[DefinitionPublic]


# -- timers -----------------------------------------------------------------------------------------

class SegmentPublic(BaseModel):
    """A stretch of a timer's life: running (counted), paused or stopped (not counted)."""

    state: Literal["running", "paused", "stopped"]
    started_at: datetime
    ended_at: datetime | None
    started_by: str = Field(description="the incident event that began it")
    ended_by: str | None = Field(description="the incident event that ended it")
    reason: str
    end_reason: str | None = None
    business_seconds: float = Field(description="business time in it (counted only when running)")


class TimerPublic(BaseModel):
    id: str
    incident_id: str = Field(description="the incident's id; empty for a requested item's timer")
    kind: TimerKind
    policy: str = Field(description="the SLA definition's name")
    priority: int
    stage: TimerStage
    started_at: datetime = Field(description="the opening for a retroactive start")
    due_at: datetime | None = Field(description="when the target is (was) reached; while paused, were it to "
                                                "resume now; null if the calendar has no working time left")
    stopped_at: datetime | None
    breached: bool
    elapsed_seconds: float = Field(description="business time counted against the target so far")
    remaining_seconds: float = Field(description="negative once past due")
    percent: float
    definition_id: str | None = None
    definition_version: int | None = None
    cycle: int = 1
    calendar_id: str | None = Field(default=None, description="null: 24x7")
    target_seconds: float | None = None
    attached_at: datetime | None = None
    breached_at: datetime | None = None
    paused_seconds: float = Field(default=0, description="real time spent paused")
    warning_thresholds: list[int] = []
    notified_percent: int = Field(default=0, description="the highest threshold announced; 100 is the breach")
    escalation_group: str | None = None
    business_service: str | None = None
    segments: list[SegmentPublic] = []
    record_type: TimedRecord = Field(default="incident", description="what the timer runs for")
    record_id: str | None = Field(default=None, description="the incident's or the requested item's id")
    request_id: str | None = Field(default=None, description="a requested item's request")


class TimerList(BaseModel):
    items: list[TimerPublic]


# -- repair and reports ------------------------------------------------------------------------------

class RepairRequest(BaseModel):
    """Which open timers to recompute; nothing named means every incident with an open timer."""

    model_config = ConfigDict(extra="forbid")

    incident_ids: list[str] | None = Field(default=None, max_length=10_000)
    definition_id: str | None = None
    calendar_id: str | None = None


class RepairResult(BaseModel):
    incidents: int = Field(description="incidents whose history was replayed")
    timers_started: int
    timers_changed: int
    timers_cancelled: int


GroupBy = Literal["priority", "business_service", "definition", "kind", "period"]


class ComplianceQuery(BaseModel):
    """Timers that completed in [from, before): how many met their target."""

    from_: Instant = Field(alias="from")
    before: Instant
    group_by: list[GroupBy] = ["priority"]
    period: Literal["day", "week", "month"] = Field(default="day", description="buckets when grouping by period")
    kind: TimerKind | None = None
    priority: list[Priority] = []
    business_service: str | None = None


class ComplianceRow(BaseModel):
    priority: int | None = None
    business_service: str | None = None
    definition_id: str | None = None
    policy: str | None = None
    kind: TimerKind | None = None
    period_start: datetime | None = None
    total: int
    met: int
    breached: int
    compliance_percent: float = Field(description="met / total x 100")


class ComplianceReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    before: datetime
    group_by: list[GroupBy]
    rows: list[ComplianceRow]
    overall: ComplianceRow


class AtRiskQuery(BaseModel):
    min_percent: float = Field(default=0, ge=0, description="only timers at least this far along")
    priority: list[Priority] = []
    business_service: str | None = None
    kind: TimerKind | None = None
    limit: int = Field(default=100, ge=1, le=500)


class AtRiskList(BaseModel):
    """Open timers past their first warning threshold or breached, closest to (or furthest past) due first."""

    items: list[TimerPublic]
