"""Who is calling: users by bearer JWT (the organisation's OpenID Connect provider's, or HS256 signed with
the gateway's own key for local use), monitoring systems by integration key."""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from itsm_kit import health
from itsm_kit.clock import utcnow
from itsm_kit.errors import Problem
from itsm_kit.internal_auth import bounded_groups
from itsm_kit.runtime import Runtime, RuntimeDep
from itsm_gateway import handlers, oidc
from itsm_gateway.upstream import USER_STATE
from itsm_gateway.keys import IntegrationKeys
from itsm_gateway.limits import Limits

bearer = HTTPBearer(auto_error=False, description="a JWT of the organisation's OpenID Connect provider "
                                                  "(RS256/ES256), or one signed with the gateway's HS256 key")
OIDC, OIDC_SCHEME = "oidc", "OpenIdConnect"


@dataclass(frozen=True)
class User:
    id: str
    roles: frozenset[str]
    groups: frozenset[str] = frozenset()


def unauthorized(detail: str) -> Problem:
    problem = Problem(401, "Unauthorized", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


def issue_token(secret: str, subject: str, roles: list[str], audience: str = "itsm",
                ttl: timedelta = timedelta(hours=8), groups: list[str] | None = None) -> str:
    now = utcnow()
    claims = {"sub": subject, "roles": roles, "aud": audience, "iat": now, "exp": now + ttl}
    if groups:
        claims["groups"] = groups
    return jwt.encode(claims, secret, algorithm="HS256")


async def current_user(request: Request, runtime: RuntimeDep,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    if credentials is None:
        raise unauthorized("a bearer token is required")
    settings, token = runtime.settings, credentials.credentials
    try:
        # The header only picks the way; each way fixes its own algorithms, so a token cannot choose
        # HMAC with the provider's public key as the secret.
        header = jwt.get_unverified_header(token)
        if header.get("alg") == "HS256":
            claims = jwt.decode(token, settings.jwt_secret.get_secret_value(), algorithms=["HS256"],
                                audience=settings.jwt_audience, options={"require": ["sub", "exp"]})
            roles = frozenset(claims.get("roles") or ())  # minted here, with our role names
        elif header.get("alg") in oidc.ALGORITHMS and OIDC in runtime.extras:
            claims = await runtime.extras[OIDC].claims(token, header)
            roles = oidc.roles_of(claims, settings.roles_claim, settings.role_map)
        else:
            raise jwt.InvalidAlgorithmError("the token's algorithm is not accepted here")
    except jwt.InvalidTokenError as exc:
        source = source_of(request)
        limits(runtime).check_source(source, 429)  # a person reads a 429, and its Retry-After
        limits(runtime).failed(source)
        raise unauthorized(f"the bearer token is not valid: {exc}") from exc
    except oidc.KeysUnavailable as exc:
        problem = Problem(503, "Service Unavailable", str(exc))
        problem.headers["Retry-After"] = str(int(settings.oidc_refresh_seconds))
        raise problem from exc
    # Groups travel to the services in the gateway's signature: at most internal_auth.MAX_GROUPS names of at most
    # MAX_GROUP_LENGTH characters (the first in sorted order); a user in more still signs in, with those.
    groups = bounded_groups(oidc.names(oidc.claim(claims, settings.groups_claim)))
    user = User(id=str(claims["sub"]), roles=roles, groups=groups)
    limits(runtime).admit_user(user.id)  # 429 with Retry-After past the user's rate
    setattr(request.state, USER_STATE, user)  # reads upstream name who acts (upstream.acting)
    return user


CurrentUser = Annotated[User, Depends(current_user)]

# Each role may do what the ones before it may: an agent works what a requester reads and opens, a change
# manager is an agent who also approves changes, an admin may do everything.
ROLES = ("requester", "agent", "change_manager", "admin")


def roles_allowed(least: str) -> list[str]:
    """The roles that may call an operation whose least role is `least`."""
    return list(ROLES[ROLES.index(least):])


def works(user: User) -> bool:
    """Whether the user works records (agent or above), so may see what is internal to the desk: work notes."""
    return bool(user.roles & frozenset(roles_allowed("agent")))


@functools.cache
def _allowed(least: str) -> Callable[..., Any]:
    allowed = frozenset(roles_allowed(least))

    async def with_role(user: CurrentUser) -> User:
        if not user.roles & allowed:
            raise Problem(403, "Forbidden", f"this needs the {least} role (or {', '.join(sorted(allowed - {least}))})"
                          if len(allowed) > 1 else f"this needs the {least} role", role=least)
        return user

    with_role.least_role = least  # read back by RoleRoute for the OpenAPI document
    return with_role


def Allowed(least: str) -> Any:  # noqa: N802 - reads as a type in route signatures
    """The calling user, who must hold `least` or a role above it: 401 without credentials, 403 naming the role."""
    if least not in ROLES:
        raise ValueError(f"unknown role {least!r}")
    return Annotated[User, Depends(_allowed(least))]


RequesterUser, AgentUser, ChangeManagerUser, AdminUser = (Allowed(role) for role in ROLES)


def least_role(route: APIRoute) -> str | None:
    """The role a route's dependencies (at any depth) declare, if any."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        role = getattr(dependant.call, "least_role", None)
        if role is not None:
            return role
        pending.extend(dependant.dependencies)
    return None


class RoleRoute(APIRoute):
    """A route that names, in the OpenAPI document, the roles that may call it (`x-roles`, and a line in its
    description), read from the very dependency (Allowed) that enforces them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = least_role(self)
        if role is None:
            return
        roles = roles_allowed(role)
        self.openapi_extra = {**(self.openapi_extra or {}), "x-roles": roles}
        line = f"Roles: {', '.join(roles)}."
        if line not in (self.description or ""):
            self.description = f"{self.description}\n\n{line}" if self.description else line


KEY_HEADERS = "Authorization: Bearer <key>, X-Integration-Key, or the password of HTTP basic auth"


def _presented_key(request: Request) -> str | None:
    """Where senders can put the key: X-Integration-Key, `Authorization: Bearer` (Alertmanager's
    `authorization` credentials), or basic auth's password (for senders that offer only that).
    Never the URL: proxies and access logs keep URLs."""
    explicit = request.headers.get("x-integration-key")
    if explicit:
        return explicit
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[2] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


# --- integration keys: cached, and failed attempts limited per source address ---------------

KEYS, LIMITS = "integration_keys", "limits"


@contextlib.asynccontextmanager
async def guard(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook: the key cache and the rate limits; readiness without PostgreSQL.

    Webhooks take alerts on cached keys while PostgreSQL is down, and every gateway pod shares
    that database: taking them all out of service would refuse the alerts they can take.
    """
    settings = runtime.settings
    runtime.extras[KEYS] = IntegrationKeys(
        lambda key_hash: handlers.integration_for_key_hash(runtime.unit_of_work(), key_hash),
        ttl=settings.key_cache_seconds, negative_ttl=settings.key_negative_cache_seconds,
        outage_grace=settings.key_outage_grace_seconds, timeout=settings.key_lookup_timeout_seconds,
        size=settings.key_cache_size)
    runtime.extras[LIMITS] = Limits.of(settings)
    runtime.extras[health.OPTIONAL] = {"database"}
    if settings.oidc_issuer is None:
        yield
        return
    # Its own client: the upstream one carries the services' timeouts, and redirects are not followed.
    async with httpx.AsyncClient(timeout=settings.oidc_timeout_seconds) as client:
        keys = oidc.ProviderKeys(settings.oidc_issuer, client, min_interval=settings.oidc_refresh_seconds,
                                 max_age=settings.oidc_keys_max_age_seconds)
        runtime.extras[OIDC] = oidc.Verifier(keys, settings.oidc_audience, settings.oidc_leeway_seconds)
        yield


def with_sign_in(openapi: Callable[[], dict[str, Any]], settings) -> Callable[[], dict[str, Any]]:
    """With a provider configured, the document names it (openIdConnect) as another way to call each secured
    operation, so Swagger UI and generated clients can sign in there."""
    if settings.oidc_issuer is None:
        return openapi

    def documented() -> dict[str, Any]:
        spec = openapi()
        schemes = spec.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[OIDC_SCHEME] = {"type": "openIdConnect", "openIdConnectUrl": oidc.discovery_url(settings.oidc_issuer)}
        for item in spec.get("paths", {}).values():
            for operation in item.values():
                security = operation.get("security") if isinstance(operation, dict) else None
                if security and any("HTTPBearer" in way for way in security) and {OIDC_SCHEME: []} not in security:
                    security.append({OIDC_SCHEME: []})
        return spec

    return documented


def limits(runtime: Runtime) -> Limits:
    return runtime.extras[LIMITS]


def forget_integration(runtime: Runtime, integration_id: str) -> None:
    """After a revocation or a policy change here: this replica applies it at once (others within the TTL)."""
    runtime.extras[KEYS].forget(integration_id)


def source_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def identify(request: Request, runtime: Runtime, key: str, *, throttled: int) -> dict | None:
    """The active integration of a key, None for an unknown or revoked one (counted against its source).

    A source that used up its failed attempts is refused with `throttled` (and Retry-After) before
    its key costs a query, unless the key is one PostgreSQL confirmed: a bad neighbour behind the
    same address does not lock a working sender out.
    """
    keys: IntegrationKeys = runtime.extras[KEYS]
    key_hash, source = handlers.hash_key(key), source_of(request)
    if not keys.vouched(key_hash):
        limits(runtime).check_source(source, throttled)
    found = await keys.integration(key_hash)
    if found is None:
        limits(runtime).failed(source)
    return found


async def integration(request: Request, runtime: RuntimeDep) -> dict:
    key = _presented_key(request)
    if not key:
        if "key" in request.query_params:
            raise unauthorized(f"an integration key is not taken from the URL, which proxies and access logs keep: "
                               f"send it as {KEY_HEADERS}, and replace this one")
        raise unauthorized(f"an integration key is required ({KEY_HEADERS})")
    # Alertmanager-style senders retry a 5xx, never a 4xx: a throttled one retries later.
    found = await identify(request, runtime, key, throttled=503)
    if found is None:
        raise unauthorized("unknown or revoked integration key")
    return found


WEBHOOK_PATHS = {"alertmanager": "/api/v1/integrations/alertmanager", "grafana": "/api/v1/integrations/grafana",
                 "pagerduty": "/api/v1/integrations/pagerduty/v2/enqueue", "generic": "/api/v1/integrations/generic",
                 "deployment": "/api/v1/changes/deployments"}


def integration_of(kind: str):
    """A dependency: the calling integration, which must be of `kind` (its policy was written for that sender)."""

    async def of_kind(found: Annotated[dict, Depends(integration)]) -> dict:
        if found["kind"] != kind:
            raise Problem(403, "Forbidden", f"this key belongs to a {found['kind']} integration; "
                          f"post to {WEBHOOK_PATHS[found['kind']]}, or create a {kind} integration")
        return found

    return Depends(of_kind)

