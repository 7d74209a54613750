"""Change request resources as the changes service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from itsm_contracts.api.values import Instant

ChangeType = Literal["standard", "normal", "emergency"]
ChangeState = Literal["new", "assess", "authorize", "scheduled", "implement", "review", "closed", "canceled"]


class ChangeCreate(BaseModel):
    short_description: str = Field(min_length=1, max_length=160)
    description: str = Field(default="", max_length=32_000)
    change_type: ChangeType
    planned_start: Instant | None = None
    planned_end: Instant | None = Field(default=None, description="must be after planned_start")


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
    version: int = Field(description="also the ETag")


class ChangePage(BaseModel):
    items: list[ChangePublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
