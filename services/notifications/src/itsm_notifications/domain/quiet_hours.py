"""Quiet hours and digests, pure: when a low-urgency e-mail to a person may go.

A person's working hours are {"days": [ISO weekdays 1..7], "start": "HH:MM", "end": "HH:MM"} in their own timezone;
an end before the start is an overnight shift (it belongs to the day it starts on); none: always reachable.
Low-urgency e-mails wait for the next digest (digests go on a fixed grid, every `interval`), and when that falls
outside the person's working hours, for the start of their next working hours.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from itsm_notifications.domain.directory import WorkingHours


def is_working(at: datetime, hours: WorkingHours | None, timezone: str) -> bool:
    """Within the person's working hours (none: always)."""
    return hours is None or hours.covers(at, timezone)


def next_working_start(at: datetime, hours: WorkingHours, timezone: str) -> datetime:
    """The first start of working hours at or after `at` (UTC)."""
    tz = ZoneInfo(timezone)
    local_day = at.astimezone(tz).date()
    for offset in range(0, 9):
        day = local_day + timedelta(days=offset)
        if day.isoweekday() not in hours.days:
            continue
        start = datetime.combine(day, hours.start, tzinfo=tz).astimezone(UTC)
        if start >= at:
            return start
    raise AssertionError("working hours name at least one weekday")  # the directory refuses none


def next_digest(now: datetime, interval_seconds: float) -> datetime:
    """The next digest after `now` on the grid of `interval_seconds` (every replica computes the same times)."""
    ticks = math.floor(now.timestamp() / interval_seconds) + 1
    return datetime.fromtimestamp(ticks * interval_seconds, UTC)


def held_until(now: datetime, interval_seconds: float, hours: WorkingHours | None, timezone: str) -> datetime:
    """When a low-urgency e-mail to this person is due: the next digest, or the start of their next working hours
    when that digest falls outside them."""
    due = next_digest(now, interval_seconds)
    if is_working(due, hours, timezone):
        return due
    return next_working_start(due, hours, timezone)
