"""The one clock: now, in UTC, timezone-aware. Pass times into domain code; only edges call this."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
