"""Problem resources as the problems service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from itsm_contracts.api.incidents import Level

ProblemState = Literal["new", "assess", "root_cause_analysis", "fix_in_progress", "resolved", "closed"]


class ProblemCreate(BaseModel):
    short_description: str = Field(min_length=1, max_length=160)
    description: str = Field(default="", max_length=32_000)
    impact: Level = 3
    urgency: Level = 3


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
    version: int = Field(description="also the ETag")


class ProblemPage(BaseModel):
    items: list[ProblemPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
