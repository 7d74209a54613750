"""SLA timer resources as the sla service serves them and the gateway composes them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from itsm_contracts.events.sla import TimerKind


class TimerPublic(BaseModel):
    id: str
    incident_id: str
    kind: TimerKind
    policy: str
    priority: int
    stage: Literal["in_progress", "completed", "cancelled"]
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    breached: bool
    elapsed_seconds: float = Field(description="time counted against the target so far")
    remaining_seconds: float = Field(description="negative once past due")
    percent: float


class TimerList(BaseModel):
    items: list[TimerPublic]
