"""Services behind the gateway take only the calls it signed; /metrics is on a port of its own.

What someone who reaches a service's port (a pod beside it, a port-forward, the monitoring
namespace) can do there: nothing, without the gateway's signature for that very service.
"""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest

from itsm_kit.internal_auth import ISSUER, Signer
from processes import SERVICES, UPSTREAMS
from tests.helpers import database_scalar, token

pytestmark = pytest.mark.e2e


def signed(key: str, audience: str, actor: str, **claims) -> dict[str, str]:
    """A token as the gateway makes one, with `claims` changed."""
    now = int(time.time())
    body = {"iss": ISSUER, "aud": audience, "sub": actor, "iat": now, "exp": now + 60, **claims}
    return {"authorization": f"Bearer {jwt.encode(body, key, algorithm='HS256')}"}


def forged(platform, case: str) -> dict[str, str]:
    key, other_key = platform.internal_key, "another-key-" + "k" * 40
    return {
        "no token, an X-Actor": {"x-actor": "mallory"},
        "another key": signed(other_key, "incidents", "mallory"),
        "expired": signed(key, "incidents", "mallory", iat=int(time.time()) - 600, exp=int(time.time()) - 300),
        "for another service": signed(key, "cmdb", "mallory"),
        "another issuer": signed(key, "incidents", "mallory", iss="somebody"),
        "no audience": {"authorization": "Bearer " + jwt.encode(
            {"iss": ISSUER, "sub": "mallory", "iat": int(time.time()), "exp": int(time.time()) + 60}, key,
            algorithm="HS256")},
        "a user's token": {"authorization": f"Bearer {token('mallory')}"},
        "not a JWT": {"authorization": "Bearer nonsense"},
    }[case]


CASES = ["no token, an X-Actor", "another key", "expired", "for another service", "another issuer", "no audience",
         "a user's token", "not a JWT"]


@pytest.mark.parametrize("case", CASES)
async def test_a_call_without_the_gateways_signature_is_a_401_and_changes_nothing(platform, case):
    marker = f"unsigned {uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=platform.url("incidents"), timeout=30) as incidents:
        response = await incidents.post("/incidents", json={"short_description": marker},
                                        headers={**forged(platform, case), "x-actor": "mallory"})
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 401 and response.headers["www-authenticate"].startswith("Bearer")
        listed = await incidents.get("/incidents", headers=forged(platform, case))
        assert listed.status_code == 401
    written = await database_scalar("incidents", "SELECT count(*) FROM incidents WHERE short_description = $1",
                                    marker)
    assert written == 0


@pytest.mark.parametrize("service", UPSTREAMS)
async def test_every_service_behind_the_gateway_refuses_unsigned_calls_but_answers_probes(platform, service):
    async with httpx.AsyncClient(base_url=platform.url(service), timeout=30) as client:
        for path in ("/docs", "/openapi.json", "/anything"):
            assert (await client.get(path, headers={"x-actor": "admin"})).status_code == 401, path
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        # A token the gateway made for another service does not open this one.
        other = next(s for s in UPSTREAMS if s != service)
        assert (await client.get("/openapi.json", headers=Signer(platform.internal_key).headers(other, "x"))
                ).status_code == 401
        assert (await client.get("/openapi.json", headers=Signer(platform.internal_key).headers(service, "x"))
                ).status_code == 200


async def test_a_signed_call_acts_as_its_subject_whatever_x_actor_says(platform, gateway):
    signer = Signer(platform.internal_key)
    async with httpx.AsyncClient(base_url=platform.url("incidents"), timeout=30) as incidents:
        response = await incidents.post("/incidents", json={"short_description": f"signed {uuid.uuid4().hex[:8]}"},
                                        headers={**signer.headers("incidents", "alice"), "x-actor": "mallory"})
        assert response.status_code == 201, response.text
    incident = response.json()
    lines = (await gateway.get(f"/api/v1/incidents/{incident['id']}/activity")).json()["items"]
    assert [(line["kind"], line["actor"]) for line in lines] == [("opened", "alice")]


async def test_through_the_gateway_the_actor_is_the_tokens_subject_not_a_forged_header(platform):
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30, headers={
            "authorization": f"Bearer {token('agent-7', roles=['agent'])}", "x-actor": "mallory"}) as agent:
        response = await agent.post("/api/v1/incidents", json={"short_description": f"via {uuid.uuid4().hex[:8]}"})
        assert response.status_code == 201, response.text
        incident = response.json()
        commented = await agent.post(f"/api/v1/incidents/{incident['id']}/comments", json={"text": "on it"},
                                     headers={"x-actor": "admin"})
        assert commented.status_code in (200, 201), commented.text
        lines = (await agent.get(f"/api/v1/incidents/{incident['id']}/activity")).json()["items"]
    assert {(line["kind"], line["actor"]) for line in lines} == {("opened", "agent-7"), ("comment", "agent-7")}


@pytest.mark.parametrize("service", list(SERVICES))
async def test_metrics_are_served_on_their_own_port_not_the_api_port(platform, service):
    async with httpx.AsyncClient(timeout=30) as client:
        scraped = await client.get(f"{platform.metrics_url(service)}/metrics")
        assert scraped.status_code == 200 and "itsm_http_request_duration_seconds" in scraped.text
        assert scraped.headers["content-type"].startswith("text/plain")
        on_api = await client.get(f"{platform.url(service)}/metrics")
        assert on_api.status_code == 404, on_api.text
        # The metrics port serves nothing else: not the API, not the probes.
        assert (await client.get(f"{platform.metrics_url(service)}/readyz")).status_code == 404
