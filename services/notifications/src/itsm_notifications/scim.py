"""Reading people and groups from the identity provider's SCIM 2.0 endpoint (RFC 7643 resources, RFC 7644 paging).

Only reads: GET {url}/Users and {url}/Groups, page by page (startIndex, count), with the bearer token. What comes
back is mapped to plain values here; handlers.directory decides what changes in the directory. Everything is
bounded (pages, resources, bytes, time); an identity provider that fails or lists more than the bounds is a 502
naming why, and the import changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from itsm_kit.errors import Problem, unavailable

MAX_PAGE_BYTES = 16 * 1024 * 1024  # one ListResponse page; a hundred users are a few hundred KB
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"  # RFC 7643 4.3


@dataclass(frozen=True)
class ScimSource:
    url: str
    token: str | None
    page_size: int = 100
    max_pages: int = 200
    max_resources: int = 20_000
    timeout_seconds: float = 10


@dataclass(frozen=True)
class ScimUser:
    scim_id: str
    username: str
    name: str
    email: str | None
    active: bool
    timezone: str
    # Issue 17: the enterprise extension's manager (the manager's SCIM id: the import names them by username) and
    # the primary address's locality (the person's site).
    manager_id: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class ScimGroup:
    scim_id: str
    name: str
    member_ids: tuple[str, ...]  # SCIM ids of users


@dataclass(frozen=True)
class ScimDirectory:
    users: list[ScimUser]
    groups: list[ScimGroup]


def source_of(settings: Any) -> ScimSource:
    """The configured endpoint, or a 503: nothing to import from."""
    if not settings.scim_url:
        raise unavailable("no SCIM endpoint is configured (ITSM_NOTIFICATIONS_SCIM_URL)")
    token = settings.scim_token.get_secret_value() if settings.scim_token is not None else None
    return ScimSource(url=settings.scim_url.rstrip("/"), token=token, page_size=settings.scim_page_size,
                      max_pages=settings.scim_max_pages, max_resources=settings.scim_max_resources,
                      timeout_seconds=settings.scim_timeout_seconds)


def failed(detail: str, **extra: Any) -> Problem:
    return Problem(502, "Bad Gateway", f"the identity provider's SCIM endpoint: {detail}", **extra)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def user_of(resource: Mapping[str, Any]) -> ScimUser | None:
    """A SCIM User as the directory keeps it; None when it lacks an id or userName. Its display name, else
    name.formatted, else userName; its primary e-mail, else the first; its timezone, else UTC."""
    scim_id, username = _text(resource.get("id")), _text(resource.get("userName"))
    if scim_id is None or username is None:
        return None
    name_part = resource.get("name")
    formatted = _text(name_part.get("formatted")) if isinstance(name_part, Mapping) else None
    emails = [e for e in resource.get("emails") or [] if isinstance(e, Mapping) and _text(e.get("value"))]
    chosen = next((e for e in emails if e.get("primary") is True), emails[0] if emails else None)
    active = resource.get("active", True)
    name = _text(resource.get("displayName")) or formatted or username
    return ScimUser(scim_id=scim_id, username=username, name=name,
                    email=_text(chosen.get("value")) if chosen else None, active=active is not False,
                    timezone=_text(resource.get("timezone")) or "UTC", manager_id=_manager_id(resource),
                    location=_locality(resource))


def _manager_id(resource: Mapping[str, Any]) -> str | None:
    """The enterprise extension's manager.value: the manager's SCIM id."""
    enterprise = resource.get(ENTERPRISE_USER)
    manager = enterprise.get("manager") if isinstance(enterprise, Mapping) else None
    return _text(manager.get("value")) if isinstance(manager, Mapping) else None


def _locality(resource: Mapping[str, Any]) -> str | None:
    """The primary address's locality, else the first address's that has one."""
    addresses = [a for a in resource.get("addresses") or [] if isinstance(a, Mapping) and _text(a.get("locality"))]
    chosen = next((a for a in addresses if a.get("primary") is True), addresses[0] if addresses else None)
    return _text(chosen.get("locality"))[:200] if chosen else None


def group_of(resource: Mapping[str, Any]) -> ScimGroup | None:
    scim_id, name = _text(resource.get("id")), _text(resource.get("displayName"))
    if scim_id is None or name is None:
        return None
    members = [_text(m.get("value")) for m in resource.get("members") or [] if isinstance(m, Mapping)]
    # A member may be a nested group; those ids match no user and are left out where users are looked up.
    return ScimGroup(scim_id=scim_id, name=name, member_ids=tuple(dict.fromkeys(m for m in members if m)))


async def _page(client: httpx.AsyncClient, source: ScimSource, resource: str, start: int) -> Mapping[str, Any]:
    url = f"{source.url}/{resource}"
    try:
        async with client.stream("GET", url, params={"startIndex": start, "count": source.page_size}) as answer:
            if answer.status_code != 200:
                raise failed(f"GET /{resource} answered {answer.status_code}", upstream_status=answer.status_code)
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_PAGE_BYTES:
                    raise failed(f"a page of /{resource} is larger than {MAX_PAGE_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise failed(f"GET /{resource} failed ({type(exc).__name__})") from exc
    try:
        page = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise failed(f"GET /{resource} did not answer JSON") from None
    if not isinstance(page, Mapping) or not isinstance(page.get("Resources", []), list):
        raise failed(f"GET /{resource} did not answer a ListResponse")
    return page


async def _listed(client: httpx.AsyncClient, source: ScimSource, resource: str) -> list[Mapping[str, Any]]:
    """Every resource of a kind, page by page, within the bounds."""
    found: list[Mapping[str, Any]] = []
    start = 1
    for _ in range(source.max_pages):
        page = await _page(client, source, resource, start)
        items = [r for r in page.get("Resources") or [] if isinstance(r, Mapping)]
        total = page.get("totalResults")
        if isinstance(total, int) and total > source.max_resources:
            raise failed(f"it lists {total} {resource}, more than the {source.max_resources} an import takes "
                         f"(ITSM_NOTIFICATIONS_SCIM_MAX_RESOURCES)")
        found.extend(items)
        if len(found) > source.max_resources:
            raise failed(f"it lists more than the {source.max_resources} {resource} an import takes")
        # The last page: nothing more, or as many as it said there are.
        if not items or (isinstance(total, int) and len(found) >= total):
            return found
        start += len(items)
    raise failed(f"/{resource} takes more than {source.max_pages} pages (ITSM_NOTIFICATIONS_SCIM_MAX_PAGES)")


async def fetch(source: ScimSource) -> ScimDirectory:
    """Every user and group the identity provider lists (users without an id or userName are left out)."""
    headers = {"accept": "application/scim+json, application/json"}
    if source.token:
        headers["authorization"] = f"Bearer {source.token}"
    async with httpx.AsyncClient(headers=headers, timeout=source.timeout_seconds, follow_redirects=False) as client:
        users = [u for r in await _listed(client, source, "Users") if (u := user_of(r)) is not None]
        groups = [g for r in await _listed(client, source, "Groups") if (g := group_of(r)) is not None]
    return ScimDirectory(users=users, groups=groups)
