"""A delivery's life: its states, retries with backoff and jitter, the circuit breaker of an endpoint."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from itsm_kit.clock import utcnow


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (RFC 9110: delay-seconds or an HTTP-date) as seconds from now; None if absent or
    unreadable, 0 for a date in the past."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or utcnow())).total_seconds())
