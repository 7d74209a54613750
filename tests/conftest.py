"""Real infrastructure for the cross-service tests: the `test` devstack and the six services.

Only tests that ask for `infra` or `platform` start anything, so unit tests stay instant.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import tempfile
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))

from devstack import Stack  # noqa: E402
from processes import Platform  # noqa: E402

from tests.helpers import token  # noqa: E402

MAX_SLOTS = 6
_held_locks: list = []

@pytest.fixture(scope="session")
def stack_slot() -> int:
    """Which of a few side-by-side test stacks this run owns, so concurrent runs never collide.

    Slot 0 is the `test` devstack on its usual ports; a second run finds slot 0 locked
    and takes slot 1 (its own stack name, ports and data), and so on.
    """
    # Ports belong to the machine, not to a checkout: so do the slot locks.
    locks = Path(tempfile.gettempdir()) / "itsm-test-slots"
    locks.mkdir(exist_ok=True)
    for slot in range(MAX_SLOTS):
        handle = open(locks / f"slot-{slot}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held_locks.append(handle)  # released when the test process exits
        return slot
    pytest.exit(f"{MAX_SLOTS} test runs are already running here", returncode=3)


def _stack(slot: int) -> Stack:
    if slot == 0:
        return Stack("test")
    return Stack(f"test{slot}", pg_port=25500 + slot, kafka_port=29500 + 2 * slot)


@pytest.fixture(scope="session")
def infra(stack_slot) -> dict[str, str]:
    """PostgreSQL and Kafka, empty: databases recreated; a local broker starts from no data."""
    stack = _stack(stack_slot)
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
def mail():
    """The SMTP server the notifications service sends to: every message it accepted, in memory."""
    from mailsink import MailSink

    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def scim_directory():
    """The identity provider's SCIM 2.0 endpoint the notifications service imports from: lists nothing unless a test
    scripts its answers (tests/e2e/test_directory.py)."""
    from tests.receivers import Answer, HttpReceiver

    receiver = HttpReceiver().start()
    receiver.default = Answer(200, {"content-type": "application/scim+json"}, b'{"totalResults": 0, "Resources": []}')
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def platform(infra, stack_slot, mail, scim_directory) -> Platform:
    """All seven services as real processes, migrated, ready."""
    secret = secrets.token_urlsafe(48)
    os.environ["ITSM_GATEWAY_JWT_SECRET"] = secret
    # What the gateway signs its calls to the services with; tests that call a service directly sign with it too.
    os.environ["ITSM_INTERNAL_KEY"] = internal_key = secrets.token_urlsafe(48)
    base_port = int(os.environ.get("ITSM_TEST_BASE_PORT", "18000")) + 100 * stack_slot
    platform = Platform(infra, REPO / ".devstack" / f"test{stack_slot or ''}" / "logs", base_port=base_port,
                        extra_env={"ITSM_GATEWAY_JWT_SECRET": secret, "ITSM_INTERNAL_KEY": internal_key,
                                   "ITSM_LOG_LEVEL": "INFO",
                                   "ITSM_CMDB_MISSING_SWEEP_SECONDS": "0.5",  # a test waits seconds, not a minute
                                   "ITSM_GATEWAY_STREAM_HEARTBEAT_SECONDS": "1",
                                   # The suite is a few users polling hard; tests/e2e/test_user_rate_limit.py tests
                                   # the per-user limit on a gateway of its own.
                                   "ITSM_GATEWAY_USER_RATE_PER_SECOND": "500", "ITSM_GATEWAY_USER_BURST": "5000",
                                   "ITSM_NOTIFICATIONS_SMTP_HOST": mail.host,
                                   "ITSM_NOTIFICATIONS_SMTP_PORT": str(mail.port),
                                   "ITSM_NOTIFICATIONS_SCIM_URL": f"{scim_directory.url}/scim/v2",
                                   "ITSM_NOTIFICATIONS_SCIM_TOKEN": "scim-test-token",
                                   # Retries, breakers and leases in seconds, not minutes (tests wait for them).
                                   "ITSM_NOTIFICATIONS_RETRY_BASE_SECONDS": "0.2",
                                   "ITSM_NOTIFICATIONS_RETRY_MAX_SECONDS": "1",
                                   "ITSM_NOTIFICATIONS_MAX_ATTEMPTS": "4",
                                   "ITSM_NOTIFICATIONS_LEASE_SECONDS": "5",
                                   "ITSM_NOTIFICATIONS_BREAKER_OPEN_SECONDS": "1",
                                   "ITSM_NOTIFICATIONS_BREAKER_OPEN_MAX_SECONDS": "2"})
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


@pytest.fixture
async def nothing_written(infra):
    """Asserts, after the test, that no record reached the alerts topic (a refused webhook wrote nothing)."""
    from itsm_contracts import topics
    from tests.helpers import topic_end_offsets

    before = await topic_end_offsets(infra["ITSM_KAFKA_BOOTSTRAP"], topics.ALERTS)
    assert before, "the alerts topic should exist once the gateway is up"
    yield
    assert await topic_end_offsets(infra["ITSM_KAFKA_BOOTSTRAP"], topics.ALERTS) == before
