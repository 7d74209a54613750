"""People and groups as the directory keeps them, published by the notifications service on itsm.directory.

Each event carries the whole record (state, not a diff), so a copy is rebuilt by keeping the newest per key:
the requests service's dispatch (group members, a requester's location and manager) reads such a copy.
"""

from __future__ import annotations

from datetime import datetime

from itsm_contracts import topics
from itsm_contracts.events import EventData, register


class DirectoryEvent(EventData):
    topic = topics.DIRECTORY


@register
class PersonSaved(DirectoryEvent):
    """A person was added, changed, imported or deactivated."""

    type = "itsm.person.saved"

    person_id: str
    username: str
    name: str
    email: str | None = None
    manager: str | None = None  # the manager's username: who approves what this person requests
    location: str | None = None  # a site name, e.g. "Berlin": dispatch rules may route by it
    active: bool
    saved_at: datetime


@register
class PersonRemoved(DirectoryEvent):
    type = "itsm.person.removed"

    person_id: str
    username: str
    removed_at: datetime


@register
class GroupSaved(DirectoryEvent):
    """A group was added or changed, its members with it (usernames of active and inactive members alike)."""

    type = "itsm.group.saved"

    group_id: str
    name: str
    members: list[str]
    saved_at: datetime


@register
class GroupRemoved(DirectoryEvent):
    type = "itsm.group.removed"

    group_id: str
    name: str
    removed_at: datetime
