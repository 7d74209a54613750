"""Value types the HTTP contracts share, strict where pydantic's lax parsing would take what the
documentation does not say: a number for a date (`as_of=0.5` read as a Unix time), `true` for a
number, a duration over a year written in years (which are not of fixed length).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, PlainSerializer

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def _written_as_a_date(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("write dates and times in ISO 8601 (2026-11-25 or 2026-11-25T10:00:00Z), not as a number")
    return value


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    return value


def iso_duration(value: timedelta) -> str:
    """ISO 8601 in days and time (P400DT2H): the schema's `format: duration` without years or months,
    whose length depends on the calendar."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    seconds_text = f"{seconds + value.microseconds / 1e6:g}" if value.microseconds else str(seconds)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    time += f"{seconds_text}S" if seconds or value.microseconds else ""
    text = (f"{value.days}D" if value.days else "") + (f"T{time}" if time else "")
    return f"{sign}P{text or 'T0S'}"


Instant = Annotated[AwareDatetime, BeforeValidator(_written_as_a_date)]
Day = Annotated[date, BeforeValidator(_written_as_a_date)]
WholeNumber = Annotated[int, BeforeValidator(_not_a_boolean)]
Span = Annotated[timedelta, PlainSerializer(iso_duration, return_type=str, when_used="json")]
# At most a century: enough for any rule, and far from where date arithmetic overflows.
Duration = Annotated[Span, Field(gt=timedelta(0), le=timedelta(days=36_525))]
# Another record's id inside a body or a query (a CI, an incident): what ids are made of, as in a path.
RecordId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
