"""How the store's refusals reach a client."""

import httpx
from fastapi import FastAPI

from itsm_kit import errors
from itsm_incidents.store import StaleVersion


async def test_a_write_over_a_newer_version_is_a_409_problem_not_a_500():
    app = FastAPI()
    errors.install(app)

    @app.post("/incidents/{incident_id}")
    async def write(incident_id: str) -> None:
        raise StaleVersion(incident_id)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://incidents") as client:
        answer = await client.post("/incidents/i-1")
    assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json"
    assert "i-1" in answer.json()["detail"] and "reload" in answer.json()["detail"]
