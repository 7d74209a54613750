"""Who is calling: users by bearer JWT (HS256), monitoring systems by integration key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from itsm_kit.clock import utcnow
from itsm_kit.errors import Problem
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_gateway import handlers

bearer = HTTPBearer(auto_error=False, description="a JWT signed with the gateway's HS256 key")


@dataclass(frozen=True)
class User:
    id: str
    roles: frozenset[str]


def unauthorized(detail: str) -> Problem:
    problem = Problem(401, "Unauthorized", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


def issue_token(secret: str, subject: str, roles: list[str], audience: str = "itsm",
                ttl: timedelta = timedelta(hours=8)) -> str:
    now = utcnow()
    claims = {"sub": subject, "roles": roles, "aud": audience, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


async def current_user(runtime: RuntimeDep,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    if credentials is None:
        raise unauthorized("a bearer token is required")
    try:
        claims = jwt.decode(credentials.credentials, runtime.settings.jwt_secret, algorithms=["HS256"],
                            audience=runtime.settings.jwt_audience, options={"require": ["sub", "exp"]})
    except jwt.InvalidTokenError as exc:
        raise unauthorized(f"the bearer token is not valid: {exc}") from exc
    return User(id=str(claims["sub"]), roles=frozenset(claims.get("roles") or ()))


CurrentUser = Annotated[User, Depends(current_user)]


async def admin_user(user: CurrentUser) -> User:
    if "admin" not in user.roles:
        raise Problem(403, "Forbidden", "this needs the admin role")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def _presented_key(request: Request) -> str | None:
    """Where senders can put the key: a header, the URL, or Alertmanager's `authorization` credentials."""
    explicit = request.headers.get("x-integration-key") or request.query_params.get("key")
    if explicit:
        return explicit
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


async def integration(request: Request, uow: UnitOfWorkDep) -> dict:
    key = _presented_key(request)
    if not key:
        raise unauthorized("an integration key is required (Authorization: Bearer <key>, X-Integration-Key, or ?key=)")
    found = await handlers.integration_for_key(uow, key)
    if found is None:
        raise unauthorized("unknown or revoked integration key")
    return found


WEBHOOK_PATHS = {"alertmanager": "/api/v1/integrations/alertmanager", "grafana": "/api/v1/integrations/grafana",
                 "pagerduty": "/api/v1/integrations/pagerduty/v2/enqueue", "generic": "/api/v1/integrations/generic"}


def integration_of(kind: str):
    """A dependency: the calling integration, which must be of `kind` (its policy was written for that sender)."""

    async def of_kind(found: Annotated[dict, Depends(integration)]) -> dict:
        if found["kind"] != kind:
            raise Problem(403, "Forbidden", f"this key belongs to a {found['kind']} integration; "
                          f"post to {WEBHOOK_PATHS[found['kind']]}, or create a {kind} integration")
        return found

    return Depends(of_kind)

