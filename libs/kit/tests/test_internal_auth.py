"""Calls between services: only the gateway's signature for this service gets in, and names who acts."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import ValidationError

from itsm_kit import errors, health
from itsm_kit.api import Actor, ActorGroups
from itsm_kit.internal_auth import (
    DEV_ONLY_INTERNAL_KEYS, ISSUER, MAX_GROUP_LENGTH, MAX_GROUPS, SignedCallsOnly, Signer, bounded_groups, require_key,
)
from itsm_kit.settings import ServiceSettings, service_config

KEY = "k" * 64


class WidgetsSettings(ServiceSettings):
    model_config = service_config("widgets")
    service = "widgets"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("ITSM_INTERNAL_KEY", "ITSM_WIDGETS_INTERNAL_KEY", "ITSM_ENVIRONMENT", "ITSM_WIDGETS_ENVIRONMENT",
                 "ITSM_WIDGETS_PORT", "ITSM_WIDGETS_METRICS_PORT", "ITSM_PORT", "ITSM_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)


def service(settings: ServiceSettings) -> FastAPI:
    """A service's HTTP stack as create_service_app builds it (no database nor Kafka)."""
    router = APIRouter()

    @router.post("/widgets")
    async def make(actor: Actor) -> dict:
        made.append(actor)
        return {"by": actor}

    made: list[str] = []
    app = FastAPI()
    app.state.made = made
    errors.install(app)
    app.add_middleware(SignedCallsOnly, settings=settings)
    app.include_router(health.router)
    app.include_router(router)
    return app


async def post(app: FastAPI, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://widgets") as client:
        return await client.post("/widgets", headers=headers)


async def test_the_gateways_signature_for_this_service_names_who_acts_whatever_x_actor_says():
    app = service(WidgetsSettings(internal_key=KEY))
    response = await post(app, {**Signer(KEY).headers("widgets", "alice"), "x-actor": "mallory"})
    assert response.status_code == 200 and response.json() == {"by": "alice"}
    assert app.state.made == ["alice"]


@pytest.mark.parametrize("headers", [
    {},
    {"x-actor": "admin"},
    {"authorization": "Bearer " + Signer("o" * 64).token("widgets", "alice")},   # another key
    {"authorization": "Bearer " + Signer(KEY).token("incidents", "alice")},     # for another service
    {"authorization": "Bearer " + jwt.encode({"iss": ISSUER, "aud": "widgets", "sub": "alice",
                                              "iat": int(time.time()) - 600, "exp": int(time.time()) - 300},
                                             KEY, algorithm="HS256")},            # expired
    {"authorization": "Bearer " + jwt.encode({"iss": "someone", "aud": "widgets", "sub": "alice",
                                              "iat": int(time.time()), "exp": int(time.time()) + 60},
                                             KEY, algorithm="HS256")},            # not the gateway's
    {"authorization": "Bearer " + jwt.encode({"iss": ISSUER, "aud": "widgets", "sub": "alice",
                                              "iat": int(time.time())}, KEY, algorithm="HS256")},  # no expiry
    {"authorization": "Bearer " + jwt.encode({"iss": ISSUER, "aud": "widgets", "sub": "alice",
                                              "iat": int(time.time()), "exp": int(time.time()) + 60},
                                             KEY, algorithm="HS512")},            # another algorithm
    {"authorization": "Basic " + KEY},
], ids=["none", "x-actor", "other-key", "other-service", "expired", "other-issuer", "no-exp", "hs512", "basic"])
async def test_anything_else_is_a_401_problem_before_the_route_runs(headers):
    app = service(WidgetsSettings(internal_key=KEY))
    response = await post(app, headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert app.state.made == []


async def test_probes_need_no_signature():
    app = service(WidgetsSettings(internal_key=KEY))
    app.state.runtime = None  # /readyz would need one; /healthz is the liveness probe
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://widgets") as client:
        assert (await client.get("/healthz")).status_code == 200


def test_the_gateways_signature_lasts_a_minute_and_names_its_audience():
    claims = jwt.decode(Signer(KEY).token("incidents", "alice"), KEY, algorithms=["HS256"], audience="incidents")
    assert claims["iss"] == ISSUER and claims["sub"] == "alice" and claims["aud"] == "incidents"
    assert 0 < claims["exp"] - claims["iat"] <= 60


@pytest.mark.parametrize("weak", ["changeme", "a-31-character-key-that-is-shor"])
def test_a_weak_internal_key_is_refused_without_printing_it(weak):
    with pytest.raises(ValidationError, match="ITSM_INTERNAL_KEY must be at least 32") as refused:
        WidgetsSettings(internal_key=weak)
    assert weak not in str(refused.value)


def test_the_dev_only_internal_key_works_in_dev_only(monkeypatch):
    [dev_key] = DEV_ONLY_INTERNAL_KEYS
    monkeypatch.setenv("ITSM_INTERNAL_KEY", dev_key)
    with pytest.raises(ValidationError, match="ITSM_ENVIRONMENT=dev") as refused:
        WidgetsSettings()
    assert dev_key not in str(refused.value)
    monkeypatch.setenv("ITSM_ENVIRONMENT", "dev")
    assert WidgetsSettings().internal_key.get_secret_value() == dev_key


def test_serve_needs_the_key_and_the_settings_never_show_it(monkeypatch):
    with pytest.raises(RuntimeError, match="ITSM_INTERNAL_KEY is not set"):
        require_key(WidgetsSettings())
    monkeypatch.setenv("ITSM_INTERNAL_KEY", KEY)
    settings = WidgetsSettings()
    assert require_key(settings) == KEY and KEY not in repr(settings)


def test_metrics_listen_on_their_own_port_by_default_or_where_told(monkeypatch):
    monkeypatch.setenv("ITSM_WIDGETS_PORT", "8009")
    assert WidgetsSettings().metrics_port == 8109
    monkeypatch.setenv("ITSM_WIDGETS_METRICS_PORT", "9464")
    assert WidgetsSettings().metrics_port == 9464


def groups_service(settings: ServiceSettings) -> FastAPI:
    """A route that reads who acts and their groups, as `assigned to me and my groups` does."""
    app = FastAPI()
    errors.install(app)
    app.add_middleware(SignedCallsOnly, settings=settings)

    @app.get("/mine")
    async def mine(actor: Actor, groups: ActorGroups) -> dict:
        return {"actor": actor, "groups": sorted(groups), "frozen": isinstance(groups, frozenset)}

    return app


async def get_mine(app: FastAPI, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://widgets") as client:
        return await client.get("/mine", headers=headers)


async def test_the_signature_carries_the_actors_groups_to_the_route():
    app = groups_service(WidgetsSettings(internal_key=KEY))
    response = await get_mine(app, Signer(KEY).headers("widgets", "alice", frozenset({"network", "service-desk"})))
    assert response.json() == {"actor": "alice", "groups": ["network", "service-desk"], "frozen": True}
    system = await get_mine(app, Signer(KEY).headers("widgets", "system"))
    assert system.json() == {"actor": "system", "groups": [], "frozen": True}


def test_a_signature_carries_at_most_the_bounded_groups():
    many = {f"group-{n:03}" for n in range(MAX_GROUPS + 50)} | {"x" * (MAX_GROUP_LENGTH + 1)}
    kept = bounded_groups(many)
    assert len(kept) == MAX_GROUPS and all(len(name) <= MAX_GROUP_LENGTH for name in kept)
    assert kept == frozenset(sorted(many - {"x" * (MAX_GROUP_LENGTH + 1)})[:MAX_GROUPS])  # the same every time
    claims = jwt.decode(Signer(KEY).token("widgets", "alice", many), KEY, algorithms=["HS256"], audience="widgets")
    assert len(claims["groups"]) == MAX_GROUPS


@pytest.mark.parametrize("groups", [[f"g{n}" for n in range(MAX_GROUPS + 1)], ["x" * (MAX_GROUP_LENGTH + 1)], "ops",
                                    [""], [7]], ids=["too-many", "too-long", "not-a-list", "empty-name", "not-a-name"])
async def test_a_signature_with_groups_out_of_bounds_is_a_401(groups):
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": "widgets", "sub": "alice", "iat": now, "exp": now + 60,
                        "groups": groups}, KEY, algorithm="HS256")
    response = await get_mine(groups_service(WidgetsSettings(internal_key=KEY)), {"authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "groups" in response.json()["detail"]
