"""Liveness (/healthz: the process answers) and readiness (/readyz: its dependencies do)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["operations"])

# runtime.extras[OPTIONAL]: checks a service can serve without (the gateway takes alerts on cached
# keys while PostgreSQL is down). They are reported, but do not make it unready.
OPTIONAL = "readiness_optional"


@router.get("/healthz", name="check_liveness", summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", name="check_readiness", summary="Readiness: PostgreSQL and Kafka answer")
async def readyz(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    checks = {"database": "ok", "kafka": "ok"}
    try:
        # The connect too: a server that does not answer would hold the probe past its timeout.
        await asyncio.wait_for(_select_one(runtime.engine), 2)
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        await asyncio.wait_for(runtime.producer.client.fetch_all_metadata(), 2)
    except Exception as exc:
        checks["kafka"] = f"unavailable: {type(exc).__name__}"
    optional = runtime.extras.get(OPTIONAL, ())
    ready = all(v == "ok" or name in optional for name, v in checks.items())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


async def _select_one(engine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
