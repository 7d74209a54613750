"""Quiet hours and digests: a low-urgency e-mail waits for the next digest, or for the person's working hours."""

from __future__ import annotations

from datetime import UTC, datetime

from itsm_notifications.domain.directory import WorkingHours
from itsm_notifications.domain.quiet_hours import held_until, is_working, next_digest, next_working_start

OFFICE = WorkingHours.of({"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"})
NIGHTS = WorkingHours.of({"days": [1, 2, 3, 4, 5], "start": "22:00", "end": "06:00"})
HOUR = 3600


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_digests_go_on_a_fixed_grid():
    assert next_digest(utc(2026, 12, 1, 10, 20), HOUR) == utc(2026, 12, 1, 11, 0)
    assert next_digest(utc(2026, 12, 1, 11, 0), HOUR) == utc(2026, 12, 1, 12, 0)  # strictly after


def test_within_working_hours_it_waits_for_the_next_digest():
    # Tuesday 1 December 2026, 10:20 UTC
    assert held_until(utc(2026, 12, 1, 10, 20), HOUR, OFFICE, "UTC") == utc(2026, 12, 1, 11, 0)
    assert held_until(utc(2026, 12, 1, 10, 20), HOUR, None, "UTC") == utc(2026, 12, 1, 11, 0)  # always reachable


def test_after_hours_it_waits_for_the_start_of_the_next_working_day():
    assert held_until(utc(2026, 12, 1, 16, 30), HOUR, OFFICE, "UTC") == utc(2026, 12, 2, 9, 0)


def test_weekends_are_skipped():
    # Friday 4 December 2026, 18:00 -> Monday 7 December 09:00
    assert held_until(utc(2026, 12, 4, 18, 0), HOUR, OFFICE, "UTC") == utc(2026, 12, 7, 9, 0)
    assert not is_working(utc(2026, 12, 5, 12, 0), OFFICE, "UTC")  # Saturday noon


def test_working_hours_are_read_in_the_persons_timezone():
    # 10:20 UTC is 19:20 in Tokyo: after hours there; Wednesday 09:00 in Tokyo is 00:00 UTC.
    assert held_until(utc(2026, 12, 1, 10, 20), HOUR, OFFICE, "Asia/Tokyo") == utc(2026, 12, 2, 0, 0)
    # 14:20 UTC is 09:20 in New York (EST): working; the 15:00 digest is within their hours.
    assert held_until(utc(2026, 12, 1, 14, 20), HOUR, OFFICE, "America/New_York") == utc(2026, 12, 1, 15, 0)
    # Summer time: 09:00 in Paris is 07:00 UTC in July.
    assert next_working_start(utc(2026, 7, 1, 3, 0), OFFICE, "Europe/Paris") == utc(2026, 7, 1, 7, 0)


def test_an_overnight_shift_runs_into_the_next_morning():
    assert is_working(utc(2026, 12, 1, 23, 0), NIGHTS, "UTC")  # Tuesday night
    assert is_working(utc(2026, 12, 2, 5, 0), NIGHTS, "UTC")  # Wednesday small hours: Tuesday's shift
    assert is_working(utc(2026, 12, 5, 5, 0), NIGHTS, "UTC")  # Saturday 05:00: Friday's shift
    assert not is_working(utc(2026, 12, 6, 5, 0), NIGHTS, "UTC")  # Sunday 05:00: no Saturday shift
    assert not is_working(utc(2026, 12, 1, 12, 0), NIGHTS, "UTC")
    # Tuesday noon -> the shift starting Tuesday 22:00; Saturday 07:00 -> Monday 22:00.
    assert held_until(utc(2026, 12, 1, 12, 0), HOUR, NIGHTS, "UTC") == utc(2026, 12, 1, 22, 0)
    assert held_until(utc(2026, 12, 5, 7, 0), HOUR, NIGHTS, "UTC") == utc(2026, 12, 7, 22, 0)
    # Within the shift, the next digest.
    assert held_until(utc(2026, 12, 2, 4, 10), HOUR, NIGHTS, "UTC") == utc(2026, 12, 2, 5, 0)
