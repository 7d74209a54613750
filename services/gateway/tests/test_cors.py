"""CORS by configuration: browsers on the listed origins may call the API (bearer tokens, If-Match, resumed
streams) and read the headers frontends need; other origins get nothing, and no list means no CORS at all."""

from __future__ import annotations

import httpx
import pytest

from itsm_gateway.main import create_app
from itsm_gateway.settings import GatewaySettings

DESK = "https://desk.example.com"


def gateway(monkeypatch, origins: str | None) -> httpx.AsyncClient:
    monkeypatch.setenv("ITSM_GATEWAY_JWT_SECRET", "x" * 48)
    if origins is None:
        monkeypatch.delenv("ITSM_GATEWAY_CORS_ORIGINS", raising=False)
    else:
        monkeypatch.setenv("ITSM_GATEWAY_CORS_ORIGINS", origins)
    app = create_app(GatewaySettings())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def preflight(origin: str, method: str = "PATCH",
              headers: str = "authorization, if-match, content-type") -> dict[str, str]:
    return {"origin": origin, "access-control-request-method": method, "access-control-request-headers": headers}


@pytest.mark.parametrize("origins", [f'["{DESK}", "https://portal.example.com"]', f"{DESK}/, https://portal.example.com"])
async def test_a_listed_origin_gets_its_preflight_answered_without_credentials(monkeypatch, origins):
    async with gateway(monkeypatch, origins) as client:
        answer = await client.options("/api/v1/incidents/abc", headers=preflight(DESK))
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == DESK
        assert {"PATCH", "DELETE"} <= set(answer.headers["access-control-allow-methods"].split(", "))
        allowed = answer.headers["access-control-allow-headers"].lower()
        assert {"authorization", "if-match", "content-type"} <= set(allowed.split(", "))
        assert "access-control-allow-credentials" not in answer.headers  # bearer tokens, no cookies
        stream = await client.options("/api/v1/stream", headers=preflight(DESK, "GET", "last-event-id"))
        assert stream.status_code == 200 and stream.headers["access-control-allow-origin"] == DESK

        read = await client.get("/healthz", headers={"origin": DESK})
        assert read.headers["access-control-allow-origin"] == DESK
        exposed = {name.strip().lower() for name in read.headers["access-control-expose-headers"].split(",")}
        assert {"etag", "location", "retry-after", "x-correlation-id"} <= exposed


async def test_an_origin_not_listed_gets_no_allow_origin(monkeypatch):
    async with gateway(monkeypatch, f'["{DESK}"]') as client:
        answer = await client.options("/api/v1/incidents", headers=preflight("https://evil.example.net", "POST"))
        assert answer.status_code == 400 and "access-control-allow-origin" not in answer.headers
        read = await client.get("/healthz", headers={"origin": "https://evil.example.net"})
        assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


async def test_without_origins_there_are_no_cors_headers(monkeypatch):
    async with gateway(monkeypatch, None) as client:
        read = await client.get("/healthz", headers={"origin": DESK})
        assert read.status_code == 200 and not any(h.startswith("access-control-") for h in read.headers)
        answer = await client.options("/api/v1/incidents", headers=preflight(DESK, "POST"))
        assert "access-control-allow-origin" not in answer.headers
