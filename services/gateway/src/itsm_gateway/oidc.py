"""Users signed in at the organisation's OpenID Connect provider: their tokens checked against its published keys.

The keys are fetched with the gateway's own async HTTP client (httpx) and parsed by PyJWT's `PyJWKSet`;
PyJWT's `PyJWKClient` is not used because it fetches with blocking urllib (a thread per waiting request
during a key rotation or an outage of the provider) and knows nothing of discovery. Verification itself
is PyJWT's: no crypto here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

import httpx
import jwt

log = logging.getLogger(__name__)

# Only asymmetric algorithms: "none" signs nothing, and an HS256 token "signed" with the provider's
# public key (which anyone can read) would pass a verifier that let the token choose HMAC.
ALGORITHMS = ("RS256", "ES256")

Role = Literal["requester", "agent", "change_manager", "admin"]
ROLES = frozenset(get_args(Role))


class KeysUnavailable(Exception):
    """The provider's keys could not be fetched, and none are cached: no token of it can be checked now."""


def discovery_url(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/.well-known/openid-configuration"


class ProviderKeys:
    """The provider's signing keys by `kid`, discovered from its issuer and cached.

    An unknown `kid` (the provider rotated its keys) or keys older than `max_age` fetch the set again,
    but at most once per `min_interval` seconds, whatever the outcome: a flood of tokens with made-up
    key ids, or a provider that is down, costs it one request per interval. A failed refresh keeps
    the keys already known.
    """

    def __init__(self, issuer: str, client: httpx.AsyncClient, *, min_interval: float = 30.0,
                 max_age: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.issuer, self.client = issuer, client
        self.min_interval, self.max_age, self.clock = min_interval, max_age, clock
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetches = 0  # attempts to fetch the key set (for tests and metrics)
        self._jwks_uri: str | None = None
        self._attempted: float | None = None
        self._loaded: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if kid in self.keys and not self._stale():
            return self.keys[kid]
        async with self._lock:  # concurrent callers wait for one fetch rather than each making one
            if (kid not in self.keys or self._stale()) and self._may_fetch():
                await self._refresh()
        return self.keys.get(kid)

    def _stale(self) -> bool:
        return self._loaded is None or self.clock() - self._loaded >= self.max_age

    def _may_fetch(self) -> bool:
        return self._attempted is None or self.clock() - self._attempted >= self.min_interval

    async def _refresh(self) -> None:
        self._attempted = self.clock()
        self.fetches += 1
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            keyset = jwt.PyJWKSet.from_dict(await self._json(self._jwks_uri))
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            self._jwks_uri = None  # discover again next time: the provider may have moved its keys
            if not self.keys:
                raise KeysUnavailable(f"the identity provider's keys could not be fetched ({exc})") from exc
            log.warning("oidc: refreshing the keys of %s failed, keeping the known ones: %s", self.issuer, exc)
            return
        self.keys = {key.key_id: key for key in keyset.keys
                     if isinstance(key.key_id, str) and key.public_key_use in (None, "sig")}
        self._loaded = self.clock()

    async def _discover(self) -> str:
        document = await self._json(discovery_url(self.issuer))
        # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was fetched for.
        if document.get("issuer") != self.issuer:
            raise ValueError(f"the discovery document names issuer {document.get('issuer')!r}, not {self.issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise ValueError("the discovery document has no jwks_uri")
        return jwks_uri

    async def _json(self, url: str) -> dict:
        response = await self.client.get(url, headers={"accept": "application/json"})
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return body


class Verifier:
    """Checks a provider's token: signature by one of its keys, issuer, audience, expiry and not-before."""

    def __init__(self, keys: ProviderKeys, audience: str, leeway: float):
        self.keys, self.audience, self.leeway = keys, audience, leeway

    async def claims(self, token: str, header: Mapping[str, Any]) -> dict[str, Any]:
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise jwt.InvalidAlgorithmError(f"the provider's tokens are signed with {' or '.join(ALGORITHMS)}")
        if not isinstance(kid, str) or not kid:
            raise jwt.InvalidTokenError("the token names no key (kid)")
        key = await self.keys.key(kid)
        if key is None:
            raise jwt.InvalidTokenError(f"the identity provider has no key {kid!r}")
        if key.algorithm_name != alg:
            raise jwt.InvalidAlgorithmError(f"key {kid!r} is for {key.algorithm_name}, not {alg}")
        return jwt.decode(token, key.key, algorithms=[alg], issuer=self.keys.issuer, audience=self.audience,
                          leeway=self.leeway, options={"require": ["sub", "exp", "iss", "aud"]})


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (Keycloak's `realm_access.roles`).
    A name that itself has dots (Auth0's `https://example.com/roles`) is taken whole first."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def names(value: Any) -> frozenset[str]:
    """A claim's names: a list of strings (others ignored), or one string."""
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list | tuple):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


def roles_of(claims: Mapping[str, Any], path: str, role_map: Mapping[str, str]) -> frozenset[str]:
    """Our roles from the provider's names. With a map only mapped names count (an unrelated group of the
    organisation named `admin` grants nothing); without one, names that are ours. Others are ignored."""
    found = names(claim(claims, path))
    if role_map:
        return frozenset(role_map[name] for name in found if name in role_map) & ROLES
    return found & ROLES
