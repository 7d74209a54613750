"""Configuration item resources as the cmdb service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

CiClass = Literal[
    "business_service", "application", "service_instance", "host", "container_workload", "database",
    "network_device", "cluster",
]
OperationalStatus = Literal["operational", "degraded", "down", "maintenance", "retired"]


class CiCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="unique within its class, ignoring case")
    ci_class: CiClass
    criticality: int = Field(ge=1, le=4, description="1 most critical .. 4 not critical")
    operational_status: OperationalStatus = "operational"


class CiPublic(BaseModel):
    id: str
    name: str
    ci_class: CiClass
    criticality: int
    operational_status: OperationalStatus
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag")


class CiPage(BaseModel):
    items: list[CiPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
