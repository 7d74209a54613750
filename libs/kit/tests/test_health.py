"""Readiness: which dependencies a service cannot serve without, and an answer within the probe's timeout."""

import asyncio
import contextlib
import time
from types import SimpleNamespace

import httpx
from fastapi import FastAPI

from itsm_kit import health


class Engine:
    def __init__(self, failure: str | None) -> None:
        self.failure = failure

    @contextlib.asynccontextmanager
    async def connect(self):
        if self.failure == "refused":
            raise ConnectionRefusedError(111, "Connect call failed")
        if self.failure == "hangs":
            await asyncio.sleep(60)
        yield SimpleNamespace(execute=lambda _: asyncio.sleep(0))


def app_with(database: str | None, optional=()) -> FastAPI:
    async def metadata():
        return None

    app = FastAPI()
    app.include_router(health.router)
    producer = SimpleNamespace(client=SimpleNamespace(fetch_all_metadata=metadata))
    app.state.runtime = SimpleNamespace(engine=Engine(database), producer=producer,
                                        extras={health.OPTIONAL: set(optional)} if optional else {})
    return app


async def ready(app: FastAPI) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        return await client.get("/readyz")


async def test_a_service_is_not_ready_without_its_database():
    answer = await ready(app_with("refused"))
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"database": "unavailable: ConnectionRefusedError", "kafka": "ok"}
    assert (await ready(app_with(None))).status_code == 200


async def test_a_dependency_a_service_can_do_without_is_reported_but_keeps_it_ready():
    answer = await ready(app_with("refused", optional={"database"}))
    assert answer.status_code == 200 and answer.json()["status"] == "ready"
    assert answer.json()["checks"]["database"] == "unavailable: ConnectionRefusedError"


async def test_a_database_that_does_not_answer_is_unavailable_within_the_probe_timeout():
    started = time.monotonic()
    answer = await ready(app_with("hangs"))
    assert time.monotonic() - started < 3  # Kubernetes gives the gateway's probe 5 s
    assert answer.json()["checks"]["database"] == "unavailable: TimeoutError"
