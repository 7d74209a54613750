"""The directory: people and the groups they are in, as admins (or the identity provider's SCIM import) keep them.

A person is found by username (the identity provider's subject: what incidents name as assignee); a group by name
(what incidents name as assignment group and SLA definitions as escalation group). People are deactivated, not
deleted, by the import: deliveries refer to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsm_contracts.events import EventData
from itsm_contracts.events.directory import GroupRemoved, GroupSaved, PersonRemoved, PersonSaved
from itsm_kit.domain import Configuration, InvalidValue

MAX_MEMBERS = 1000  # per group: a mail to more is a broadcast list, not a team
MAX_EMAIL = 320  # RFC 3696 (64 + @ + 255)
# One address: something, one @, a domain with a dot; no spaces, no second @, no angle brackets or commas
# (a header injection or a list in disguise). Whether it exists is the mail relay's business.
EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9]"
                   r"(?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# The identity provider's subject: safe in a path (no slash, `?`, `#`, space), as incidents name assignees.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


def email_address(value: str | None, what: str) -> str | None:
    """The address, trimmed, or None; an InvalidValue when it is not one address."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_EMAIL or not EMAIL.fullmatch(value):
        raise InvalidValue(f"{what} is not an e-mail address: {value!r}")
    return value


def timezone_name(value: str) -> str:
    """An IANA timezone name the platform's tz database knows ("Europe/Paris", "UTC")."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(f"timezone is not an IANA timezone name: {value!r}") from None
    return value


def _required(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidValue(f"{what} must not be blank")
    return value


def _clock(value: object, what: str) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if not isinstance(value, str) or not (m := CLOCK.fullmatch(value)):
        raise InvalidValue(f"working hours' {what} is a time HH:MM (00:00 to 23:59), not {value!r}")
    return time(int(m[1]), int(m[2]))


@dataclass(frozen=True)
class WorkingHours:
    """When a person is at work, in their own timezone: on these ISO weekdays (1 Monday .. 7 Sunday) from start to
    end. An end before the start runs overnight into the next day (a night shift: "22:00" to "06:00" on day 5 covers
    Friday night until Saturday 06:00)."""

    days: tuple[int, ...]
    start: time
    end: time

    @classmethod
    def of(cls, value: WorkingHours | Mapping[str, Any]) -> WorkingHours:
        """From the JSON form {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:30"}, checked."""
        if isinstance(value, WorkingHours):
            return value
        if not isinstance(value, Mapping) or set(value) != {"days", "start", "end"}:
            raise InvalidValue('working hours are {"days": [ISO weekdays 1..7], "start": "HH:MM", "end": "HH:MM"}')
        days = value["days"]
        if (not isinstance(days, list | tuple) or not days
                or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days)):
            raise InvalidValue(f"working hours' days are ISO weekdays, 1 (Monday) to 7 (Sunday), at least one, "
                               f"not {days!r}")
        start, end = _clock(value["start"], "start"), _clock(value["end"], "end")
        if start == end:
            raise InvalidValue("working hours' start and end must differ (an end before the start runs overnight)")
        return cls(days=tuple(sorted(set(days))), start=start, end=end)

    def as_json(self) -> dict[str, Any]:
        return {"days": list(self.days), "start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}

    def covers(self, at: datetime, timezone: str) -> bool:
        """Whether `at` (aware) falls in these hours, read in `timezone`."""
        local = at.astimezone(ZoneInfo(timezone))
        now, day = local.time().replace(tzinfo=None), local.isoweekday()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        # Overnight: the evening part belongs to its own day, the small hours to the day before.
        return (day in self.days and now >= self.start) or ((day - 2) % 7 + 1 in self.days and now < self.end)


PERSON_FIELDS = frozenset({"username", "name", "email", "chat_handle", "timezone", "working_hours", "active",
                           "manager", "location"})  # issue 17: manager, location
MAX_LOCATION = 200
PERSON_NOT_NULL = frozenset({"username", "name", "timezone", "active"})


@dataclass
class Person(Configuration):
    id: str
    username: str
    name: str
    email: str | None
    chat_handle: str | None
    timezone: str
    working_hours: WorkingHours | None
    active: bool
    created_at: datetime
    updated_at: datetime
    scim_id: str | None = None
    version: int = 1
    # Issue 17: the manager's username (who approves what this person requests) and a site name (dispatch rules).
    manager: str | None = None
    location: str | None = None
    # (sequence, event) raised since loading: every write publishes the person as it now is on itsm.directory.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)
    FIELDS: ClassVar[frozenset[str]] = PERSON_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = PERSON_NOT_NULL

    @classmethod
    def create(cls, *, id: str, username: str, name: str, at: datetime, email: str | None = None,
               chat_handle: str | None = None, timezone: str = "UTC",
               working_hours: WorkingHours | Mapping[str, Any] | None = None, active: bool = True,
               scim_id: str | None = None, manager: str | None = None, location: str | None = None) -> Person:
        person = cls(id=id, username=username, name=name, email=email, chat_handle=chat_handle, timezone=timezone,
                     working_hours=working_hours, active=active, created_at=at, updated_at=at, scim_id=scim_id,
                     manager=manager, location=location)
        for name_, value in person._normalised(person.__dict__).items():
            setattr(person, name_, value)
        person._check()
        person.saved(at)
        return person

    def update(self, changes: Mapping[str, Any], at: datetime, *, actor: str | None = None) -> None:
        """Configuration's update; a new version is published (itsm.person.saved)."""
        loaded = self.version
        super().update(changes, at, actor=actor)
        if self.version != loaded:
            self.saved(at)

    def _check(self) -> None:
        if self.manager is not None and self.manager == self.username:
            raise InvalidValue(f"{self.username} cannot be their own manager")

    def saved(self, at: datetime) -> None:
        """The person as it now is, for the copies other services keep (the requests service's dispatch and
        approvals); its version is the event's sequence."""
        self.events.append((self.version, PersonSaved(
            person_id=self.id, username=self.username, name=self.name, email=self.email, manager=self.manager,
            location=self.location, active=self.active, saved_at=at)))

    def removed(self, at: datetime) -> None:
        self.events.append((self.version + 1, PersonRemoved(person_id=self.id, username=self.username,
                                                            removed_at=at)))

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        tidy = {k: v for k, v in changes.items() if k in PERSON_FIELDS}
        if "username" in tidy:
            tidy["username"] = username = _required(tidy["username"], "a person's username")
            if not USERNAME.fullmatch(username):
                raise InvalidValue(f"a username is up to 100 letters, digits and . _ @ + -, starting with a letter "
                                   f"or digit, not {username!r}")
        if "name" in tidy:
            tidy["name"] = _required(tidy["name"], "a person's name")
        if "email" in tidy:
            tidy["email"] = email_address(tidy["email"], "a person's email")
        if "chat_handle" in tidy:
            tidy["chat_handle"] = (tidy["chat_handle"] or "").strip() or None
        if "timezone" in tidy:
            tidy["timezone"] = timezone_name(tidy["timezone"].strip())
        if tidy.get("working_hours") is not None:
            tidy["working_hours"] = WorkingHours.of(tidy["working_hours"])
        if "manager" in tidy:  # issue 17: a username (the person need not be in the directory yet)
            tidy["manager"] = manager = (tidy["manager"] or "").strip() or None
            if manager is not None and not USERNAME.fullmatch(manager):
                raise InvalidValue(f"a manager is named by username, not {manager!r}")
        if "location" in tidy:
            tidy["location"] = location = (tidy["location"] or "").strip() or None
            if location is not None and len(location) > MAX_LOCATION:
                raise InvalidValue(f"a location is a site name of at most {MAX_LOCATION} characters")
        return tidy

    def is_at_work(self, at: datetime) -> bool:
        """Within their working hours (always, when they keep none)."""
        return self.working_hours is None or self.working_hours.covers(at, self.timezone)


GROUP_FIELDS = frozenset({"name", "description", "email"})
GROUP_NOT_NULL = frozenset({"name", "description"})


@dataclass
class Group(Configuration):
    """A team: who is told when an assignment or escalation names it. Members are kept beside it (group_members)."""

    id: str
    name: str
    description: str
    email: str | None
    created_at: datetime
    updated_at: datetime
    scim_id: str | None = None
    version: int = 1
    # (sequence, event) raised since loading: the handler publishes each write with the members it then has.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)
    FIELDS: ClassVar[frozenset[str]] = GROUP_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = GROUP_NOT_NULL

    @classmethod
    def create(cls, *, id: str, name: str, at: datetime, description: str = "", email: str | None = None,
               scim_id: str | None = None) -> Group:
        group = cls(id=id, name=name, description=description, email=email, created_at=at, updated_at=at,
                    scim_id=scim_id)
        for name_, value in group._normalised(group.__dict__).items():
            setattr(group, name_, value)
        return group

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        tidy = {k: v for k, v in changes.items() if k in GROUP_FIELDS}
        if "name" in tidy:
            tidy["name"] = _required(tidy["name"], "a group's name")
        if "description" in tidy:
            tidy["description"] = tidy["description"].strip()
        if "email" in tidy:
            tidy["email"] = email_address(tidy["email"], "a group's email")
        return tidy

    def members_changed(self, at: datetime) -> None:
        """A member change is a change of the group: a new version (the ETag of what GET /groups/{id} shows)."""
        self.updated_at, self.version = at, self.version + 1

    def saved(self, members: Iterable[str], at: datetime) -> None:
        """The group as it now is, with its members' usernames (active or not); its version is the sequence."""
        self.events.append((self.version, GroupSaved(group_id=self.id, name=self.name, members=sorted(set(members)),
                                                     saved_at=at)))

    def removed(self, at: datetime) -> None:
        self.events.append((self.version + 1, GroupRemoved(group_id=self.id, name=self.name, removed_at=at)))


@dataclass(frozen=True)
class GroupWithMembers:
    """A group as the notification pipeline sees it: its shared mailbox and its active members."""

    id: str
    name: str
    email: str | None
    members: list[Person] = field(default_factory=list)


def member_list(wanted: Sequence[str], known: Mapping[str, str]) -> list[str]:
    """The person ids a members list names (each entry an id or a username), in order, repeats dropped.
    `known` maps every id and username the directory knows to the person's id; an unknown entry is refused by name,
    and the list is bounded."""
    if unknown := [w for w in wanted if w not in known]:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise InvalidValue(f"no such person: {shown}", unknown=unknown[:100])
    ids = list(dict.fromkeys(known[w] for w in wanted))
    check_member_count(ids)
    return ids


def check_member_count(ids: Iterable[str]) -> None:
    if (count := len(set(ids))) > MAX_MEMBERS:
        raise InvalidValue(f"a group has at most {MAX_MEMBERS} members, not {count}")
