"""Which incidents a user may see. Those who work incidents (agents and above) see every one; a requester
sees only the incidents they are the caller of. To a requester someone else's incident does not exist: a 404
exactly like the incidents service's for an unknown id (a 403 would say that it does).

Every gateway route (and composed screen) that shows incidents to requesters goes through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from itsm_kit.errors import not_found
from itsm_kit.runtime import Runtime
from itsm_gateway.auth import User, works
from itsm_gateway.upstream import call


def sees_all_incidents(user: User) -> bool:
    return works(user)


def scoped_incident_query(user: User, params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """An incident list's query as sent, except that a requester's always asks for their own (any `caller`
    they sent is replaced by them)."""
    if sees_all_incidents(user):
        return list(params)
    return [(name, value) for name, value in params if name != "caller"] + [("caller", user.id)]


def check_incident_access(user: User, incident: Mapping[str, Any], incident_id: str | None = None) -> None:
    """Nothing for an incident the user may see; the incidents service's 404 otherwise."""
    if not sees_all_incidents(user) and incident.get("caller") != user.id:
        raise not_found("incident", incident_id if incident_id is not None else incident.get("id"))


def visible_activity(user: User, page: dict[str, Any]) -> dict[str, Any]:
    """An incident's timeline page as the user may read it: work notes are internal to the desk, so a requester's
    page leaves them out (it may be shorter; its cursor still holds)."""
    if not sees_all_incidents(user):
        page["items"] = [entry for entry in page["items"] if entry.get("kind") != "work_note"]
    return page


async def readable_incident(runtime: Runtime, user: User, incident_id: str) -> httpx.Response:
    """The incidents service's answer for an incident the user may see (its ETag with it); a 404 problem raised
    for one they may not (or that does not exist)."""
    response = await call(runtime, "incidents", "GET", f"/incidents/{incident_id}", actor=user)
    check_incident_access(user, response.json(), incident_id)
    return response
