"""Composed screens: what a frontend shows on one screen, gathered by the gateway from several services in one call.

A screen answers 200 while a service behind it is down or slow: the parts that service gives are null and named in
`unavailable`, so the frontend can show the rest and say what is missing. Parts the caller's role may not read are
null and named in `withheld`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from itsm_contracts.api.changes import ChangePublic
from itsm_contracts.api.cmdb import CiBrief, CiPublic
from itsm_contracts.api.incidents import ActivityPage, IncidentPublic
from itsm_contracts.api.problems import ProblemPublic
from itsm_contracts.api.sla import TimerPublic
from itsm_contracts.events.incidents import IncidentState

# -- incident detail -----------------------------------------------------------------------------

IncidentDetailPart = Literal["affected_ci", "impacted_services", "sla_timers", "problems", "changes", "timeline"]


class IncidentDetail(BaseModel):
    """An incident with everything its detail screen shows."""

    incident: IncidentPublic = Field(description="its version is also the ETag of this answer")
    affected_ci: CiPublic | None = Field(description="the CMDB CI the incident names (null: none named, or not in "
                                                     "the CMDB)")
    impacted_services: list[CiBrief] | None = Field(
        description="the business services that depend on the affected CI, directly or not (CMDB impact analysis)")
    sla_timers: list[TimerPublic] | None
    problems: list[ProblemPublic] | None = Field(description="problems the incident is linked to")
    changes: list[ChangePublic] | None = Field(description="change requests on the incident's affected CI")
    timeline: ActivityPage | None = Field(description="the first page of the incident's activity, newest first "
                                                      "(no work notes for requesters); its cursor pages on at "
                                                      "/incidents/{incident_id}/activity")
    unavailable: list[IncidentDetailPart] = Field(
        default=[], description="parts that could not be fetched in time for this answer (their service down or "
                                "slow): null above")
    withheld: list[IncidentDetailPart] = Field(
        default=[], description="parts the caller's role may not read (requesters: problems and changes): null above")


# -- my work -------------------------------------------------------------------------------------

WorkType = Literal["incident", "problem", "change"]
MyWorkPart = Literal["incidents", "problems", "changes", "sla"]


class WorkItem(BaseModel):
    """A record assigned to the caller or to one of their groups."""

    type: WorkType
    id: str
    number: str
    short_description: str
    state: str
    priority: int | None = Field(description="1 Critical .. 5 Planning; null for records without one")
    assignee: str | None
    assignment_group: str | None
    sla_due_at: datetime | None = Field(
        default=None, description="when its nearest open SLA timer is due (incidents); null without one")
    sla_breached: bool = Field(default=False, description="an open SLA timer of it is past its target")


class MyWork(BaseModel):
    """Soonest due SLA first; records without a timer after them, by priority (1 first)."""

    items: list[WorkItem]
    truncated: bool = Field(description="more records are assigned than `limit`: the least urgent are left out")
    unavailable: list[MyWorkPart] = Field(
        default=[], description="services that could not be asked in time: their records are missing (sla: the "
                                "items are sorted by priority only)")


# -- dashboard -----------------------------------------------------------------------------------

DashboardPart = Literal["open_incidents", "breaches_today", "at_risk", "changes_today"]


class OpenIncidents(BaseModel):
    total: int
    by_priority: dict[str, int] = Field(description='"1" .. "5", zeros included')
    by_state: dict[IncidentState, int] = Field(description="the open states, zeros included")


class BreachesToday(BaseModel):
    total: int = Field(description="open + completed")
    open: int = Field(description="timers still running that breached today")
    completed: int = Field(description="timers that completed today past their target")
    completed_met: int = Field(description="timers that completed today within their target")
    compliance_percent: float = Field(description="of the timers completed today, % within target (100 if none)")


class AtRisk(BaseModel):
    count: int = Field(description="open timers past a warning threshold and not yet breached")
    capped: bool = Field(description="the SLA service's at-risk list was full: there may be more")
    items: list[TimerPublic] = Field(description="the furthest along, at most 10")


class Dashboard(BaseModel):
    day: date = Field(description="the UTC day that `today` means below")
    open_incidents: OpenIncidents | None
    breaches_today: BreachesToday | None
    at_risk: AtRisk | None
    changes_today: list[ChangePublic] | None = Field(description="scheduled changes planned to start today, "
                                                                 "soonest first")
    unavailable: list[DashboardPart] = []
