"""Business-time arithmetic: examples for each rule, and properties over random calendars."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from itsm_kit.domain import InvalidValue
from itsm_sla.domain.calendar import ALWAYS, WEEKDAYS, Calendar, NoWorkingTime, Window

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"
OFFICE = {day: [("09:00", "17:00")] for day in WEEKDAYS[:5]}


def office(tz: str = PARIS, holidays=()) -> Calendar:
    return Calendar.create(tz, OFFICE, holidays)


def at(tz: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


# -- examples -------------------------------------------------------------------------------

def test_due_inside_working_hours_is_plain_addition():
    cal = office()
    assert cal.add(at(PARIS, 2026, 11, 24, 10), timedelta(hours=2)) == at(PARIS, 2026, 11, 24, 12)


def test_time_outside_hours_does_not_count_and_the_due_time_moves_to_the_next_working_day():
    cal = office()
    # Tuesday 16:00 + 4 h: one hour today, three tomorrow from 09:00.
    assert cal.add(at(PARIS, 2026, 11, 24, 16), timedelta(hours=4)) == at(PARIS, 2026, 11, 25, 12)
    # Opened on Saturday: the clock starts on Monday morning.
    assert cal.add(at(PARIS, 2026, 11, 28, 11), timedelta(hours=1)) == at(PARIS, 2026, 11, 30, 10)


def test_a_target_that_ends_with_the_day_is_due_at_closing_time_not_next_morning():
    cal = office()
    assert cal.add(at(PARIS, 2026, 11, 24, 9), timedelta(hours=8)) == at(PARIS, 2026, 11, 24, 17)


def test_holidays_are_whole_days_off():
    cal = office(holidays=[date(2026, 12, 25)])
    # Thursday 24 Dec 16:00 + 2 h: one hour on the 24th, none on the 25th, one on Monday the 28th.
    assert cal.add(at(PARIS, 2026, 12, 24, 16), timedelta(hours=2)) == at(PARIS, 2026, 12, 28, 10)
    assert cal.measure(at(PARIS, 2026, 12, 25, 0), at(PARIS, 2026, 12, 26, 0)) == timedelta(0)


def test_measure_counts_only_working_hours():
    cal = office()
    week = cal.measure(at(PARIS, 2026, 11, 23, 0), at(PARIS, 2026, 11, 30, 0))
    assert week == timedelta(hours=40)
    assert cal.measure(at(PARIS, 2026, 11, 24, 18), at(PARIS, 2026, 11, 25, 8)) == timedelta(0)
    assert cal.measure(at(PARIS, 2026, 11, 24, 12), at(PARIS, 2026, 11, 24, 11)) == timedelta(0)


def test_several_windows_a_day_lunch_excluded():
    cal = Calendar.create(PARIS, {"monday": [("13:00", "17:00"), ("08:00", "12:00")]})
    assert cal.hours[0] == (Window(480, 720), Window(780, 1020))
    assert cal.add(at(PARIS, 2026, 11, 23, 11), timedelta(hours=2)) == at(PARIS, 2026, 11, 23, 14)


def test_hours_are_read_in_the_calendars_own_timezone():
    tokyo = Calendar.create("Asia/Tokyo", OFFICE)
    # 09:00 in Tokyo is 00:00 UTC (no DST in Japan).
    assert tokyo.add(datetime(2026, 11, 24, 0, tzinfo=UTC), timedelta(hours=1)) == datetime(2026, 11, 24, 1,
                                                                                            tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "spring", "autumn"),
    [(PARIS, date(2026, 3, 29), date(2026, 10, 25)), (NEW_YORK, date(2026, 3, 8), date(2026, 11, 1))],
)
def test_daylight_saving_days_are_counted_in_real_hours(tz, spring, autumn):
    round_the_clock = Calendar.create(tz, {d: [("00:00", "24:00")] for d in WEEKDAYS})

    def day_length(cal: Calendar, day: date) -> timedelta:
        return cal.measure(at(tz, day.year, day.month, day.day), at(tz, *(day + timedelta(days=1)).timetuple()[:3]))

    assert day_length(round_the_clock, spring) == timedelta(hours=23)
    assert day_length(round_the_clock, autumn) == timedelta(hours=25)
    # Office hours stay 09:00-17:00 on the wall clock: eight hours either way.
    every_day_office = Calendar.create(tz, {d: [("09:00", "17:00")] for d in WEEKDAYS})
    assert day_length(every_day_office, spring) == timedelta(hours=8)
    assert day_length(every_day_office, autumn) == timedelta(hours=8)
    assert every_day_office.add(at(tz, spring.year, spring.month, spring.day, 9), timedelta(hours=8)) == at(
        tz, spring.year, spring.month, spring.day, 17)


def test_a_window_over_the_skipped_hour_loses_it_and_one_over_the_repeated_hour_gains_it():
    # New York: 2026-03-08 02:00 -> 03:00; 2026-11-01 02:00 -> 01:00.
    night = Calendar.create(NEW_YORK, {d: [("01:00", "04:00")] for d in WEEKDAYS})
    assert night.measure(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9)) == timedelta(hours=2)
    assert night.measure(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2)) == timedelta(hours=4)
    skipped = Calendar.create(NEW_YORK, {d: [("02:00", "02:30")] for d in WEEKDAYS})
    assert skipped.measure(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9)) == timedelta(0)
    # A wall time clocks skip is the instant of the jump: 02:30 that night is 07:00 UTC.
    assert night.instant(date(2026, 3, 8), 150) == datetime(2026, 3, 8, 7, tzinfo=UTC)


def test_24x7_counts_everything():
    start = datetime(2026, 11, 24, 22, tzinfo=UTC)
    assert ALWAYS.add(start, timedelta(hours=4)) == start + timedelta(hours=4)
    assert ALWAYS.measure(start, start + timedelta(days=2)) == timedelta(days=2)
    assert ALWAYS.measure(start, start - timedelta(hours=1)) == timedelta(0)


def test_a_calendar_whose_holidays_leave_no_working_time_gives_up_instead_of_looping():
    cal = Calendar.create(PARIS, {"monday": [("09:00", "10:00")]})
    with pytest.raises(NoWorkingTime):
        cal.add(at(PARIS, 2026, 11, 24, 9), timedelta(days=365))  # 1 h a week: 168 years


@pytest.mark.parametrize(
    ("tz", "hours", "message"),
    [
        ("Mars/Olympus_Mons", OFFICE, "unknown timezone"),
        ("../../etc/passwd", OFFICE, "unknown timezone"),
        (PARIS, {"monday": [("09:00", "12:00"), ("11:00", "17:00")]}, "overlap"),
        (PARIS, {"monday": [("17:00", "09:00")]}, "end after it starts"),
        (PARIS, {"monday": [("09:00", "09:00")]}, "end after it starts"),
        (PARIS, {"monday": [("9am", "17:00")]}, "HH:MM"),
        (PARIS, {"monday": [("09:00", "24:30")]}, "HH:MM"),
        (PARIS, {"funday": [("09:00", "17:00")]}, "per weekday"),
        (PARIS, {}, "some working hours"),
    ],
)
def test_bad_calendars_are_refused(tz, hours, message):
    with pytest.raises(InvalidValue, match=message):
        Calendar.create(tz, hours)


def test_adjacent_windows_are_not_an_overlap():
    cal = Calendar.create(PARIS, {"monday": [("09:00", "12:00"), ("12:00", "17:00")]})
    assert cal.measure(at(PARIS, 2026, 11, 23), at(PARIS, 2026, 11, 24)) == timedelta(hours=8)


# -- properties -------------------------------------------------------------------------------

ZONES = ["UTC", PARIS, NEW_YORK, "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Chatham",
         "Europe/London"]


@st.composite
def day_windows(draw) -> list[tuple[str, str]]:
    points = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    points = [p * 15 for p in points]
    pairs = list(zip(points[::2], points[1::2]))
    return [(f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}") for a, b in pairs]


@st.composite
def calendars(draw) -> Calendar:
    hours = {day: draw(day_windows()) for day in WEEKDAYS}
    if not any(hours.values()):
        hours["wednesday"] = [("10:00", "11:30")]
    holidays = draw(st.lists(st.dates(date(2025, 1, 1), date(2028, 12, 31)), max_size=20))
    return Calendar.create(draw(st.sampled_from(ZONES)), hours, holidays)


instants = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
amounts = st.timedeltas(timedelta(0), timedelta(days=10))
clocks = st.one_of(st.just(ALWAYS), calendars())
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def add(clock, start: datetime, amount: timedelta) -> datetime:
    """clock.add, for calendars with enough working time: a quarter of an hour a week does not
    give ten days within add's ten-year horizon (it says so: NoWorkingTime), so such cases are skipped."""
    try:
        return clock.add(start, amount)
    except NoWorkingTime:
        assume(False)


@PROPERTY
@given(clocks, instants, amounts)
def test_adding_then_measuring_gives_back_the_amount(clock, start, amount):
    due = add(clock, start, amount)
    assert due >= start
    assert clock.measure(start, due) == amount


@PROPERTY
@given(clocks, instants, amounts, amounts)
def test_more_business_time_is_never_due_earlier(clock, start, a, b):
    small, large = sorted((a, b))
    assert add(clock, start, small) <= add(clock, start, large)


@PROPERTY
@given(clocks, instants, st.timedeltas(timedelta(0), timedelta(days=20)),
       st.timedeltas(timedelta(0), timedelta(days=20)))
def test_measuring_adds_up_over_consecutive_spans_and_never_exceeds_real_time(clock, start, first, second):
    middle, end = start + first, start + first + second
    whole = clock.measure(start, end)
    assert whole == clock.measure(start, middle) + clock.measure(middle, end)
    assert timedelta(0) <= whole <= end - start


@PROPERTY
@given(calendars(), instants, st.timedeltas(timedelta(0), timedelta(days=9)))
def test_working_intervals_lie_inside_the_wall_clock_windows(cal, start, span):
    zone = ZoneInfo(cal.timezone)
    for opens, closes in cal.intervals(start, start + span):
        assert start <= opens < closes <= start + span
        local = opens.astimezone(zone)
        assert local.date() not in cal.holidays
        minute = local.hour * 60 + local.minute
        assert any(w.start <= minute < w.end for w in cal.hours[local.weekday()])


@PROPERTY
@given(st.sampled_from(ZONES), st.dates(date(2025, 1, 1), date(2027, 12, 31)))
def test_a_round_the_clock_calendar_counts_each_local_day_as_its_real_length(tz, day):
    """24 h, less the hour clocks skip or plus the hour they repeat: reckoned from zoneinfo's offsets."""
    cal = Calendar.create(tz, {d: [("00:00", "24:00")] for d in WEEKDAYS})
    zone = ZoneInfo(tz)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    next_midnight = midnight + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    assume(midnight.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == midnight.replace(tzinfo=None))
    real_length = timedelta(days=1) - (next_midnight.utcoffset() - midnight.utcoffset())
    assert cal.measure(midnight.astimezone(UTC), next_midnight.astimezone(UTC)) == real_length
