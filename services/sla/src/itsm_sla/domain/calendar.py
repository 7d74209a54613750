"""Business time: working hours per weekday in a calendar's own timezone, and holidays. Pure.

Business time is real elapsed time that falls inside working hours. A window such as
09:00-17:00 is read on the calendar's wall clock, so it stays at 09:00 local across a
daylight-saving change; a 00:00-24:00 window is 23 hours on the day clocks go forward and
25 hours on the day they go back.

A wall-clock reading is turned into an instant as "the first instant at which the wall
clock shows it or later": a time clocks skip over (02:30 on a spring-forward night) is the
instant of the jump, and a time they show twice is its first occurrence. That rule is
monotonic, so windows never overlap and never run backwards, whatever the zone does.

`ALWAYS` (24x7) counts every instant. Both clocks offer the same two operations:
`add(start, amount)`, the instant `amount` of business time after `start`, and
`measure(start, end)`, the business time between two instants; `measure(s, add(s, a)) == a`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsm_kit.domain import InvalidValue

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_MINUTES = 24 * 60
# How far ahead `add` looks for working time before it gives up (a calendar whose holidays
# cover everything, or a target far larger than the hours allow).
HORIZON_DAYS = 366 * 10

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class NoWorkingTime(ValueError):
    """The calendar has no working time left within the horizon."""


class Clock(Protocol):
    def add(self, start: datetime, amount: timedelta) -> datetime: ...

    def measure(self, start: datetime, end: datetime) -> timedelta: ...


class Always:
    """24x7: every instant is business time."""

    def add(self, start: datetime, amount: timedelta) -> datetime:
        return start + max(amount, timedelta(0))

    def measure(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))

    def __repr__(self) -> str:
        return "ALWAYS"


ALWAYS = Always()


@dataclass(frozen=True)
class Window:
    """Working hours within one day, in minutes after local midnight: [start, end)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def parse_hhmm(text: str, *, what: str) -> int:
    """'09:30' -> 570; '24:00' is the end of the day."""
    match = _HHMM.match(text)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise InvalidValue(f"{what} is a time of day as HH:MM (00:00 to 24:00), not {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidValue(f"unknown timezone {name!r}: use an IANA name such as Europe/Paris",
                           timezone=name) from None


@dataclass(frozen=True, eq=False)
class Calendar:
    """Working windows per weekday (Monday first), read in `timezone`; holidays are whole local days off."""

    timezone: str
    hours: tuple[tuple[Window, ...], ...]
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False)
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", zone_of(self.timezone))
        if len(self.hours) != 7:
            raise InvalidValue("working hours name the seven weekdays, Monday first")

    @classmethod
    def create(cls, timezone: str, hours: Mapping[str, Iterable[tuple[str, str]]],
               holidays: Iterable[date] = ()) -> Calendar:
        """A calendar from readable parts, checked: known timezone, windows that start before they end
        and do not overlap, some working time in the week."""
        zone_of(timezone)
        if unknown := sorted(set(hours) - set(WEEKDAYS)):
            raise InvalidValue(f"working hours are given per weekday ({', '.join(WEEKDAYS)}), not {unknown}")
        week = []
        for day in WEEKDAYS:
            windows = []
            for start_text, end_text in hours.get(day, ()):
                start = parse_hhmm(start_text, what=f"{day} start")
                end = parse_hhmm(end_text, what=f"{day} end")
                if start >= end:
                    raise InvalidValue(f"{day}: a window must end after it starts ({start_text}-{end_text})",
                                       weekday=day)
                windows.append(Window(start, end))
            windows.sort(key=lambda w: w.start)
            for before, after in zip(windows, windows[1:]):
                if after.start < before.end:
                    raise InvalidValue(f"{day}: working hours {before} and {after} overlap", weekday=day,
                                       windows=[str(before), str(after)])
            week.append(tuple(windows))
        if not any(week):
            raise InvalidValue("a business calendar needs some working hours in the week")
        return cls(timezone, tuple(week), frozenset(holidays))

    # -- the two operations ------------------------------------------------------------------

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which `amount` of business time has passed since `start`.

        It ends inside a window or exactly at a window's end (never the next morning).
        Raises NoWorkingTime when the horizon holds too little working time.
        """
        if amount <= timedelta(0):
            return start
        remaining = amount
        day = self._local_date(start)
        for _ in range(HORIZON_DAYS):
            for opens, closes in self.windows(day):
                if closes <= start:
                    continue
                opens = max(opens, start)
                if closes - opens >= remaining:
                    return opens + remaining
                remaining -= closes - opens
            day += timedelta(days=1)
        raise NoWorkingTime(f"less than {amount} of working time in the {HORIZON_DAYS} days after {start}")

    def measure(self, start: datetime, end: datetime) -> timedelta:
        """Business time in [start, end); zero when end is not after start."""
        total = timedelta(0)
        for opens, closes in self.intervals(start, end):
            total += closes - opens
        return total

    def intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working parts of [start, end), in order, as UTC instants."""
        if end <= start:
            return
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            for opens, closes in self.windows(day):
                opens, closes = max(opens, start), min(closes, end)
                if opens < closes:
                    yield opens, closes
            day += timedelta(days=1)

    # -- days and instants --------------------------------------------------------------------

    def windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """One local day's working windows as UTC instants (none on a holiday)."""
        found = self._days.get(day)
        if found is None:
            found = ()
            if day not in self.holidays:
                found = tuple(
                    (opens, closes)
                    for w in self.hours[day.weekday()]
                    if (opens := self.instant(day, w.start)) < (closes := self.instant(day, w.end))
                )
            if len(self._days) > 20_000:
                self._days.clear()
            self._days[day] = found
        return found

    def instant(self, day: date, minute: int) -> datetime:
        """The first instant at which the local wall clock shows `day` at `minute` (0..1440) or later."""
        wall = datetime.combine(day, time()) + timedelta(minutes=minute)
        first = wall.replace(tzinfo=self._zone, fold=0).astimezone(UTC)
        if _wall(first, self._zone) == wall:
            return first  # it exists (fold=0 is the earlier of two readings when clocks go back)
        # Clocks jump over it. fold=1 reads it with the offset after the jump (an instant before
        # the jump); fold=0 with the offset before it (an instant after): the jump lies between.
        before = wall.replace(tzinfo=self._zone, fold=1).astimezone(UTC)
        low, high = 0, int((first - before).total_seconds())
        while high - low > 1:
            middle = (low + high) // 2
            if _wall(before + timedelta(seconds=middle), self._zone) >= wall:
                high = middle
            else:
                low = middle
        return before + timedelta(seconds=high)

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self._zone).date()

    def __repr__(self) -> str:
        week = ", ".join(f"{d[:3]} {' '.join(map(str, ws))}" for d, ws in zip(WEEKDAYS, self.hours) if ws)
        return f"Calendar({self.timezone}: {week}; {len(self.holidays)} holidays)"


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)
