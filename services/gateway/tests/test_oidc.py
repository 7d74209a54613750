"""Users of the organisation's OpenID Connect provider: tokens checked against the keys its discovery document
names (a test issuer on loopback, keys generated here), roles read from a configurable claim and mapped to ours,
keys refreshed for a rotation but not for a flood; the gateway's own HS256 tokens still work beside them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from types import SimpleNamespace

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from itsm_kit import errors
from itsm_gateway import auth
from itsm_gateway.auth import CurrentUser
from itsm_gateway.settings import GatewaySettings
from tests.oidc_issuer import Issuer, SigningKey, serving

SECRET = "s" * 48


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer():
    with serving() as running:
        yield running


def settings_for(issuer: Issuer | None, **overrides) -> GatewaySettings:
    oidc = {"oidc_issuer": issuer.url, "oidc_audience": issuer.audience} if issuer else {}
    # Failed authentications are not throttled here: the flood below would otherwise read 429s.
    return GatewaySettings(jwt_secret=SECRET, failed_auth_rate_per_second=0, **{**oidc, **overrides})


@contextlib.asynccontextmanager
async def gateway(settings: GatewaySettings, clock: Clock | None = None):
    """A gateway's authentication (auth.guard, as its lifespan runs it) behind one route that names the caller."""
    app = FastAPI()
    errors.install(app)

    @app.get("/me")
    async def me(user: CurrentUser) -> dict:
        return {"id": user.id, "roles": sorted(user.roles), "groups": sorted(user.groups)}

    runtime = SimpleNamespace(settings=settings, extras={}, unit_of_work=lambda: None)
    app.state.runtime = runtime
    async with auth.guard(runtime):
        if clock is not None and auth.OIDC in runtime.extras:
            runtime.extras[auth.OIDC].keys.clock = clock
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client:
            yield client


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/me", headers={"authorization": f"Bearer {token}"})


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


# --- accepted ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_a_providers_token_signs_in_with_the_roles_it_carries(issuer, alg):
    async with gateway(settings_for(issuer)) as client:
        response = await me(client, issuer.token(issuer.key(alg), sub="ada", roles=["agent", "not-ours"],
                                                 groups=["/ops", "/ops/network"]))
    assert response.status_code == 200, response.text
    assert response.json() == {"id": "ada", "roles": ["agent"], "groups": ["/ops", "/ops/network"]}


async def test_roles_from_groups_mapped_to_ours(issuer):
    settings = settings_for(issuer, roles_claim="groups",
                            role_map={"itsm-admins": "admin", "service-desk": "agent", "cab": "change_manager"})
    async with gateway(settings) as client:
        response = await me(client, issuer.token(groups=["service-desk", "cab", "payroll", "admin"]))
    assert response.status_code == 200, response.text
    # With a map only mapped names count: the organisation's unrelated "admin" group grants nothing.
    assert response.json()["roles"] == ["agent", "change_manager"]
    assert response.json()["groups"] == ["admin", "cab", "payroll", "service-desk"]


async def test_roles_from_keycloaks_nested_realm_access(issuer):
    settings = settings_for(issuer, roles_claim="realm_access.roles", role_map={"itsm-admins": "admin"})
    async with gateway(settings) as client:
        response = await me(client, issuer.token(issuer.key("ES256"),
                                                 realm_access={"roles": ["offline_access", "itsm-admins"]},
                                                 roles=["agent"]))
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["admin"]


async def test_clock_skew_within_the_leeway_is_accepted(issuer):
    now = int(time.time())
    async with gateway(settings_for(issuer)) as client:
        expired_a_little = await me(client, issuer.token(exp=now - 30, roles=["agent"]))
        early_a_little = await me(client, issuer.token(nbf=now + 30, roles=["agent"]))
    assert expired_a_little.status_code == 200, expired_a_little.text
    assert early_a_little.status_code == 200, early_a_little.text


async def test_the_gateways_own_hs256_tokens_still_work_beside_the_provider(issuer):
    async with gateway(settings_for(issuer)) as client:
        response = await me(client, auth.issue_token(SECRET, "local-admin", ["admin"]))
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["admin"]


# --- refused ----------------------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(issuer: Issuer) -> str:
    """Algorithm confusion: HMAC with the provider's public key (which anyone can fetch) as the secret.
    Built by hand, since PyJWT itself refuses to sign so."""
    key = issuer.key("RS256")
    secret = key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = _b64(json.dumps({"iss": issuer.url, "aud": issuer.audience, "sub": "mallory", "roles": ["admin"],
                               "iat": now, "exp": now + 300}).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def alg_none(issuer: Issuer) -> str:
    now = int(time.time())
    return jwt.encode({"iss": issuer.url, "aud": issuer.audience, "sub": "mallory", "roles": ["admin"],
                       "exp": now + 300}, None, algorithm="none", headers={"kid": issuer.key("RS256").kid})


def signed_by_another_key(issuer: Issuer) -> str:
    """Claims to be one of the provider's keys (its kid), but signed by a key of the attacker's."""
    impostor = SigningKey.rsa()
    impostor.kid = issuer.key("RS256").kid
    return issuer.token(impostor, roles=["admin"])


FORGERIES = {
    "wrong issuer": lambda issuer: issuer.token(iss="https://elsewhere.example", roles=["admin"]),
    "wrong audience": lambda issuer: issuer.token(aud="another-app", roles=["admin"]),
    "no audience": lambda issuer: issuer.token(aud=None, roles=["admin"]),
    "no subject": lambda issuer: issuer.token(sub=None, roles=["admin"]),
    "expired beyond the leeway": lambda issuer: issuer.token(exp=int(time.time()) - 120, roles=["admin"]),
    "not yet valid beyond the leeway": lambda issuer: issuer.token(nbf=int(time.time()) + 120, roles=["admin"]),
    "unknown kid": lambda issuer: issuer.token(SigningKey.rsa(), roles=["admin"]),
    "alg none": alg_none,
    "hs256 with the public key as secret": hs256_with_public_key,
    "signed by another key": signed_by_another_key,
    "rs256 key claimed as es256": lambda issuer: issuer.token(
        SigningKey(issuer.key("RS256").kid, "ES256", SigningKey.ec().private), roles=["admin"]),
}


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_or_foreign_token_is_refused(issuer, forgery):
    async with gateway(settings_for(issuer)) as client:
        assert (await me(client, issuer.token(roles=["agent"]))).status_code == 200  # the keys are known
        assert_unauthorized(await me(client, FORGERIES[forgery](issuer)))


async def test_provider_tokens_are_refused_without_a_configured_issuer(issuer):
    async with gateway(settings_for(None)) as client:
        assert_unauthorized(await me(client, issuer.token(roles=["agent"])))
    assert issuer.jwks_fetches == 0


# --- keys: rotation, flood, outage ------------------------------------------------------------------------

async def test_an_unknown_kid_refreshes_the_keys_once_and_a_rotated_key_is_accepted(issuer):
    clock = Clock()
    async with gateway(settings_for(issuer), clock) as client:
        assert (await me(client, issuer.token(roles=["agent"]))).status_code == 200
        assert issuer.jwks_fetches == 1
        assert (await me(client, issuer.token(issuer.key("ES256"), roles=["agent"]))).status_code == 200
        assert issuer.jwks_fetches == 1  # known keys come from the cache

        issuer.published = [SigningKey.rsa()]  # the provider rotates
        clock.now += 31
        response = await me(client, issuer.token(roles=["agent"]))
        assert response.status_code == 200, response.text
        assert issuer.jwks_fetches == 2
        assert (await me(client, issuer.token(roles=["agent"]))).status_code == 200
        assert issuer.jwks_fetches == 2


async def test_a_flood_of_unknown_kids_fetches_the_keys_at_most_once_per_interval(issuer):
    clock = Clock()
    async with gateway(settings_for(issuer), clock) as client:
        assert (await me(client, issuer.token(roles=["agent"]))).status_code == 200
        clock.now += 31
        flood = await asyncio.gather(*(me(client, issuer.token(SigningKey.ec(), roles=["admin"]))
                                       for _ in range(40)))
        for response in flood:
            assert_unauthorized(response)
        assert issuer.jwks_fetches == 2  # the first unknown kid refreshed; the rest waited for it
        clock.now += 10
        assert_unauthorized(await me(client, issuer.token(SigningKey.ec())))
        assert issuer.jwks_fetches == 2
        clock.now += 21
        assert_unauthorized(await me(client, issuer.token(SigningKey.ec())))
        assert issuer.jwks_fetches == 3
        assert (await me(client, issuer.token(roles=["agent"]))).status_code == 200  # known keys still work


async def test_a_provider_that_cannot_be_reached_is_a_503_to_retry():
    issuer = Issuer(url="http://127.0.0.1:9")  # nothing listens on the discard port
    async with gateway(settings_for(issuer, oidc_timeout_seconds=1)) as client:
        with serving(Issuer()) as elsewhere:
            response = await me(client, elsewhere.token(roles=["agent"]))
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1


# --- configuration and the OpenAPI document ---------------------------------------------------------------

def test_the_provider_and_its_claims_come_from_the_environment(monkeypatch):
    for name, value in {"JWT_SECRET": SECRET, "OIDC_ISSUER": "https://login.example.org/realms/itsm",
                        "OIDC_AUDIENCE": "itsm-api", "OIDC_LEEWAY_SECONDS": "30", "OIDC_REFRESH_SECONDS": "60",
                        "ROLES_CLAIM": "realm_access.roles", "GROUPS_CLAIM": "memberOf",
                        "ROLE_MAP": '{"itsm-admins": "admin", "desk": "agent"}'}.items():
        monkeypatch.setenv(f"ITSM_GATEWAY_{name}", value)
    settings = GatewaySettings()
    assert (settings.oidc_issuer, settings.oidc_audience) == ("https://login.example.org/realms/itsm", "itsm-api")
    assert (settings.oidc_leeway_seconds, settings.oidc_refresh_seconds) == (30, 60)
    assert (settings.roles_claim, settings.groups_claim) == ("realm_access.roles", "memberOf")
    assert settings.role_map == {"itsm-admins": "admin", "desk": "agent"}


@pytest.mark.parametrize("overrides", [
    {"oidc_issuer": "https://login.example.org"},  # no audience
    {"oidc_issuer": "http://login.example.org", "oidc_audience": "itsm-api"},  # keys over plain HTTP
    {"oidc_issuer": "https://login.example.org", "oidc_audience": "itsm-api", "oidc_leeway_seconds": 3600},
    {"role_map": {"itsm-admins": "superuser"}},  # not one of our roles
])
def test_an_incomplete_or_unsafe_provider_setting_is_refused(overrides):
    with pytest.raises(ValueError):
        GatewaySettings(jwt_secret=SECRET, **overrides)


def test_the_openapi_document_offers_the_providers_sign_in(monkeypatch):
    from itsm_gateway.main import create_app

    monkeypatch.setenv("ITSM_GATEWAY_JWT_SECRET", SECRET)
    spec = create_app(settings_for(Issuer(url="https://login.example.org/realms/itsm"))).openapi()
    assert spec["components"]["securitySchemes"]["OpenIdConnect"] == {
        "type": "openIdConnect",
        "openIdConnectUrl": "https://login.example.org/realms/itsm/.well-known/openid-configuration"}
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    secured = [op for item in spec["paths"].values() for op in item.values()
               if isinstance(op, dict) and any("HTTPBearer" in way for way in op.get("security", []))]
    assert secured
    assert all({"OpenIdConnect": []} in op["security"] for op in secured)

    plain = create_app(settings_for(None)).openapi()
    assert "OpenIdConnect" not in plain["components"]["securitySchemes"]
