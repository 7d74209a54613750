"""The CloudEvents 1.0 envelope (structured JSON mode) every domain event travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field


class CloudEvent(BaseModel):
    """CloudEvents attributes plus our extensions.

    `sequence` is the aggregate's version after the change (strictly increasing per
    subject), so a consumer can tell a stale or repeated event from a new one.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str
    time: datetime = Field(default_factory=partial(datetime.now, UTC))
    datacontenttype: str = "application/json"
    dataschema: str
    sequence: int = 0
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_json(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)
