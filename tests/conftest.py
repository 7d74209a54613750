"""Real infrastructure for the cross-service tests: the `test` devstack and the six services.

Only tests that ask for `infra` or `platform` start anything, so unit tests stay instant.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))

from devstack import Stack  # noqa: E402
from processes import Platform  # noqa: E402

from tests.helpers import token  # noqa: E402

@pytest.fixture(scope="session")
def infra() -> dict[str, str]:
    """PostgreSQL and Kafka, empty: databases recreated; a local broker starts from no data."""
    stack = Stack("test")
    if not os.environ.get("ITSM_KAFKA_BOOTSTRAP"):
        stack.down(purge=True)  # old topics would replay into the fresh databases
    env = stack.up()
    stack.reset_databases()
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if stack.started_by_us():
        stack.down()


@pytest.fixture(scope="session")
def platform(infra) -> Platform:
    """All six services as real processes, migrated, ready."""
    secret = secrets.token_urlsafe(48)
    os.environ["ITSM_GATEWAY_JWT_SECRET"] = secret
    platform = Platform(infra, REPO / ".devstack" / "test" / "logs",
                        base_port=int(os.environ.get("ITSM_TEST_BASE_PORT", "18000")),
                        extra_env={"ITSM_GATEWAY_JWT_SECRET": secret, "ITSM_LOG_LEVEL": "INFO"})
    platform.migrate()
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()


@pytest.fixture
async def gateway(platform) -> httpx.AsyncClient:
    """The gateway as a signed-in administrator sees it."""
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30,
                                 headers={"authorization": f"Bearer {token()}"}) as client:
        yield client


@pytest.fixture
async def integration_key(gateway) -> str:
    response = await gateway.post("/api/v1/integrations", json={"name": "prometheus-test", "kind": "alertmanager"})
    assert response.status_code == 201, response.text
    return response.json()["key"]
