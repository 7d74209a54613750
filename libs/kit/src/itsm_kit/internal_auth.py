"""Calls between services: the gateway signs each one, every other service takes only those.

The gateway checks who a user is (their bearer token) and what they may do; the services behind
it can trust that only because the call carries the gateway's signature: a JWT (HS256 with the
platform's internal key, ITSM_INTERNAL_KEY) for one service (`aud`), naming who acts (`sub`) and
the groups they are in (`groups`: at most MAX_GROUPS names of 1 to MAX_GROUP_LENGTH characters), good
for a minute. Without one, or with one for another service, expired, or signed with another key, a
call is a 401 and changes nothing: reaching a service's port is not enough to act in it, and a bare
`X-Actor` header names nobody. Probes and scrapes carry no token: /healthz, /readyz and /metrics
stay open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import jwt
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from itsm_kit.clock import utcnow
from itsm_kit.errors import problem_response

if TYPE_CHECKING:
    from itsm_kit.settings import ServiceSettings

ISSUER = "gateway"
TTL = timedelta(seconds=60)
LEEWAY_SECONDS = 5  # two pods' clocks may differ a little
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp"]
# Where the verified actor waits for `itsm_kit.api.Actor`: the request's state.
ACTOR_STATE = "signed_actor"
GROUPS_STATE = "signed_groups"
# A token with hundreds of groups would make every call heavy: the gateway passes on at most this many
# (see bounded_groups), and a signature naming more, or a longer name, is refused.
MAX_GROUPS = 100
MAX_GROUP_LENGTH = 255
MIN_KEY_LENGTH = 32
WEAK_KEYS = frozenset({"changeme", "change-me", "secret"})
# Committed to this repository for throwaway clusters (deploy/k8s/overlays/dev): anyone can sign
# with it, so only ITSM_ENVIRONMENT=dev accepts it.
DEV_ONLY_INTERNAL_KEYS = frozenset({"dev-only-insecure-internal-key-do-not-use-in-production"})


def check_key(key: str, environment: str) -> None:
    """A ValueError (which never repeats the key) for a key anyone could guess or knows."""
    if len(key) < MIN_KEY_LENGTH or key.lower() in WEAK_KEYS:
        raise ValueError(f"ITSM_INTERNAL_KEY must be at least {MIN_KEY_LENGTH} random characters")
    if environment != "dev" and key in DEV_ONLY_INTERNAL_KEYS:
        raise ValueError("ITSM_INTERNAL_KEY is the repository's well-known dev-only key, accepted only with "
                         "ITSM_ENVIRONMENT=dev: set a random one (e.g. `openssl rand -base64 48`)")


def require_key(settings: ServiceSettings) -> str:
    """The internal key, which `serve` cannot do without (the gateway signs with it, the others verify)."""
    if settings.internal_key is None:
        raise RuntimeError("ITSM_INTERNAL_KEY is not set: the gateway signs its calls to the other services "
                           "with it and they accept no others; give every service the same 32+ random characters")
    return settings.internal_key.get_secret_value()


def bounded_groups(groups: Iterable[str]) -> frozenset[str]:
    """The groups a signature can carry: names of 1 to MAX_GROUP_LENGTH characters (longer ones cannot name an
    assignment group anyway), and of those the first MAX_GROUPS in sorted order (deterministic: the same user
    always reaches the services with the same groups)."""
    fitting = sorted({name for name in groups if isinstance(name, str) and 0 < len(name) <= MAX_GROUP_LENGTH})
    return frozenset(fitting[:MAX_GROUPS])


@dataclass(frozen=True)
class Signed:
    """What a verified signature says: who acts, and their groups (none for the system)."""

    actor: str
    groups: frozenset[str] = frozenset()


class Signer:
    """What the gateway (or a benchmark standing in for it) sends with each call to a service."""

    def __init__(self, key: str, *, ttl: timedelta = TTL):
        self.key, self.ttl = key, ttl

    def token(self, audience: str, actor: str, groups: Iterable[str] = ()) -> str:
        now = utcnow()
        claims = {"iss": ISSUER, "aud": audience, "sub": actor, "iat": now, "exp": now + self.ttl}
        if groups:
            claims["groups"] = sorted(bounded_groups(groups))
        return jwt.encode(claims, self.key, algorithm="HS256")

    def headers(self, audience: str, actor: str, groups: Iterable[str] = ()) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(audience, actor, groups)}"}


def verify_signed(key: str, audience: str, token: str) -> Signed:
    """Who acts and their groups, if the gateway signed the token for `audience` within its minute; else
    jwt's error."""
    claims = jwt.decode(token, key, algorithms=["HS256"], audience=audience, issuer=ISSUER,
                        leeway=LEEWAY_SECONDS, options={"require": REQUIRED_CLAIMS})
    actor = claims["sub"]
    if not isinstance(actor, str) or not 0 < len(actor) <= 255:
        raise jwt.InvalidTokenError("the subject must be a name of 1 to 255 characters")
    groups = claims.get("groups", [])
    if (not isinstance(groups, list) or len(groups) > MAX_GROUPS
            or not all(isinstance(g, str) and 0 < len(g) <= MAX_GROUP_LENGTH for g in groups)):
        raise jwt.InvalidTokenError(f"groups must be at most {MAX_GROUPS} names of 1 to {MAX_GROUP_LENGTH} characters")
    return Signed(actor, frozenset(groups))


def verify(key: str, audience: str, token: str) -> str:
    """The actor a token names, if the gateway signed it for `audience` within its minute; else jwt's error."""
    return verify_signed(key, audience, token).actor


def _bearer(headers: Mapping[bytes, bytes]) -> str | None:
    scheme, _, credentials = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


class SignedCallsOnly:
    """ASGI middleware of every service behind the gateway: a call without the gateway's signature
    for this service is a 401 before anything else reads it; a signed one names its actor."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings):
        # No key here is no start (require_key in the lifespan); until then, nothing passes.
        self.app, self.audience = app, settings.service
        self.key = settings.internal_key.get_secret_value() if settings.internal_key is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http" and scope["path"] in OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no service takes websockets: none gets past unsigned either
            await send({"type": "websocket.close", "code": 1008})
            return
        token = _bearer(dict(scope["headers"]))
        if token is None:
            await self._refuse(scope, receive, send, "a call needs the gateway's signature (Authorization: Bearer)")
            return
        if self.key is None:
            await self._refuse(scope, receive, send, "this service has no internal key to check signatures with")
            return
        try:
            signed = verify_signed(self.key, self.audience, token)
        except jwt.InvalidTokenError as exc:
            await self._refuse(scope, receive, send, f"the gateway's signature is not valid here: {exc}")
            return
        state = scope.setdefault("state", {})
        state[ACTOR_STATE], state[GROUPS_STATE] = signed.actor, signed.groups
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        response = problem_response(401, "Unauthorized", detail, instance=scope["path"],
                                    headers={"WWW-Authenticate": 'Bearer realm="itsm-internal"'})
        await response(scope, receive, send)


def signed_actor(request: Request) -> str | None:
    """Who the gateway said acts, once SignedCallsOnly verified it (None where no call is verified)."""
    return getattr(request.state, ACTOR_STATE, None)


def signed_groups(request: Request) -> frozenset[str]:
    """The groups of who acts, as the gateway's signature names them (none for the system or where unverified)."""
    return getattr(request.state, GROUPS_STATE, frozenset())
