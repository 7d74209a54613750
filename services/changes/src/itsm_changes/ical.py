"""The change calendar as iCalendar (RFC 5545), for calendar apps to subscribe to: one event per planned change and
per blackout or maintenance window. Written with the icalendar library."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from icalendar import Calendar, Event

from itsm_changes.domain import ChangeRequest, ChangeWindow, WindowKind

PRODUCT = "-//ITSM//Change calendar//EN"
UID_DOMAIN = "changes.itsm"


def calendar_ics(changes: Iterable[ChangeRequest], windows: Iterable[ChangeWindow], *, at: datetime,
                 name: str = "Change calendar") -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for change in changes:
        event = Event()
        event.add("uid", f"change-{change.id}@{UID_DOMAIN}")
        event.add("dtstamp", at)
        event.add("dtstart", change.planned_start)
        event.add("dtend", change.planned_end)
        event.add("summary", f"{change.number}: {change.short_description}")
        lines = [f"{change.change_type} change, {change.state}",
                 f"CIs: {', '.join(change.affected_cis) or 'none named'}"]
        lines += [f"Conflict: {c['reason']}" for c in change.conflicts]
        event.add("description", "\n".join(lines))
        event.add("categories", ["change", str(change.change_type)])
        event.add("status", "CONFIRMED")
        event.add("last-modified", change.updated_at)
        event.add("sequence", change.version)
        calendar.add_component(event)
    for window in windows:
        event = Event()
        event.add("uid", f"window-{window.id}@{UID_DOMAIN}")
        event.add("dtstamp", at)
        event.add("dtstart", window.start)
        event.add("dtend", window.end)
        label = "Blackout" if window.kind is WindowKind.BLACKOUT else "Maintenance window"
        event.add("summary", f"{label}: {window.name}")
        scope = f"CIs: {', '.join(window.cis)}" if window.cis else "CIs: all"
        event.add("description", "\n".join(filter(None, [window.reason, scope])))
        event.add("categories", [str(window.kind)])
        event.add("transp", "OPAQUE" if window.kind is WindowKind.BLACKOUT else "TRANSPARENT")
        event.add("last-modified", window.updated_at)
        event.add("sequence", window.version)
        calendar.add_component(event)
    return calendar.to_ical()
