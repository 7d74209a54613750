"""Incident resources as the incidents service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from itsm_contracts.api.sla import TimerPublic
from itsm_contracts.events.incidents import IncidentState

Level = Annotated[int, Field(ge=1, le=3, description="1 high .. 3 low")]
HoldReason = Literal["awaiting_caller", "awaiting_change", "awaiting_vendor", "awaiting_problem"]


class IncidentCreate(BaseModel):
    short_description: str = Field(min_length=1, max_length=160)
    description: str = Field(default="", max_length=32_000)
    impact: Level = 3
    urgency: Level = 3


class IncidentResolve(BaseModel):
    resolution_code: str = Field(min_length=1, max_length=60)
    resolution_notes: str = Field(min_length=1, max_length=32_000)


class StateChange(BaseModel):
    state: Literal["in_progress", "on_hold", "closed", "canceled"]
    hold_reason: HoldReason | None = None


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
    alert_count: int
    last_seen_at: datetime | None
    hold_reason: str | None
    resolved_at: datetime | None
    resolution_code: str | None
    resolution_notes: str | None


class IncidentPage(BaseModel):
    items: list[IncidentPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class IncidentView(IncidentPublic):
    """The gateway's composed incident."""

    sla_timers: list[TimerPublic] | None = Field(description="null when the SLA service could not be reached")
    partial: list[str] = Field(default=[], description="parts that could not be composed in this answer")
