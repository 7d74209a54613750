"""The gateway through real outages of PostgreSQL and Kafka (the test stack's servers stopped and started again).

While PostgreSQL is down, alerts sent with keys the gateway has confirmed keep coming in, the gateway
stays ready, and what needs the database answers 503 with Retry-After (never a 500). While Kafka is
down, a webhook answers 503 within seconds instead of holding its sender for the producer's 15 s.
Each test brings the server back, and any platform service that did not ride the outage out, for
the tests after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
import pytest

from itsm_contracts import topics
from tests.alerts import alert, alertmanager_batch, fingerprints, pagerduty_event
from tests.conftest import _stack
from tests.helpers import eventually, gateway_replica, read_topic

pytestmark = pytest.mark.e2e

ALERTMANAGER = "/api/v1/integrations/alertmanager"


def restart_what_died(platform) -> None:
    dead = [name for name, process in platform.processes.items() if process.poll() is not None]
    if dead:
        print(f"restarting after the outage: {dead}")
        platform.start(dead)


def relaunch(start, attempts: int = 3) -> None:
    """A server restarted mid-run may find its port held a moment (a client's ephemeral port): try again."""
    for attempt in range(attempts):
        try:
            start()
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(5)


@contextlib.contextmanager
def postgres_down(stack, platform):
    # devstack has kafka_stop/kafka_start; for PostgreSQL the same steps as its up() and down().
    if stack._pg_running() is None:
        pytest.skip("PostgreSQL is not one this test run started (ITSM_DATABASE_URL names another)")
    with stack._lock():
        stack._pg_stop()
    try:
        yield
    finally:
        def start() -> None:
            with stack._lock():
                stack._pg_launch()
                stack._pg_wait()

        relaunch(start)
        restart_what_died(platform)


@contextlib.contextmanager
def kafka_down(stack, platform):
    if stack._kafka_running() is None:
        pytest.skip("Kafka is not one this test run started (ITSM_KAFKA_BOOTSTRAP names another)")
    stack.kafka_stop()
    try:
        yield
    finally:
        relaunch(stack.kafka_start)
        restart_what_died(platform)


@pytest.fixture
def stack(infra, stack_slot):
    return _stack(stack_slot)


def assert_unavailable(response: httpx.Response, content_type: str = "application/problem+json") -> dict:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == content_type
    assert int(response.headers["retry-after"]) >= 1
    return response.json()


async def test_alerts_on_confirmed_keys_come_in_while_postgresql_is_down(platform, gateway, infra, stack):
    created = (await gateway.post("/api/v1/integrations", json={"name": "outage-am", "kind": "alertmanager"})).json()
    key, integration_id = created["key"], created["id"]
    never_seen = (await gateway.post("/api/v1/integrations", json={"name": "outage-pd", "kind": "pagerduty"})).json()
    headers = {"x-integration-key": key}
    # A replica whose cached keys expire within the outage: each is asked about again, and PostgreSQL cannot answer.
    with gateway_replica(platform, "gateway-db-outage", 40, key_cache_seconds=0.5) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as sender, httpx.AsyncClient(
                base_url=url, timeout=30, headers=gateway.headers) as admin:
            before_fp, during_fp = fingerprints(2)
            assert (await sender.post(ALERTMANAGER, json=alertmanager_batch([alert(before_fp)]),
                                      headers=headers)).status_code == 202
            with postgres_down(stack, platform):
                await asyncio.sleep(1)  # past the key cache TTL
                ready = await sender.get("/readyz")
                assert ready.status_code == 200, ready.text  # webhooks still take alerts: stay in service
                assert ready.json()["checks"]["database"].startswith("unavailable")
                assert ready.json()["checks"]["kafka"] == "ok"

                started = time.monotonic()
                accepted = await sender.post(ALERTMANAGER, json=alertmanager_batch([alert(during_fp)]),
                                             headers=headers)
                assert accepted.status_code == 202, accepted.text
                assert time.monotonic() - started < 3

                unknown = await sender.post(ALERTMANAGER, json=alertmanager_batch([alert(during_fp)]),
                                            headers={"x-integration-key": "itsm_never-issued"})
                assert "PostgreSQL unavailable" in assert_unavailable(unknown)["detail"]
                pagerduty = await sender.post("/v2/enqueue", json=pagerduty_event(never_seen["key"]))
                assert_unavailable(pagerduty, "application/json")
                listed = await admin.get("/api/v1/integrations")  # the admin API needs the database
                assert "database is unavailable" in assert_unavailable(listed)["detail"]

            async def admin_api_back():
                assert (await admin.get("/api/v1/integrations")).status_code == 200

            await eventually(admin_api_back)
            assert (await sender.get("/readyz")).json()["checks"] == {"database": "ok", "kafka": "ok"}

    def mine(records: list) -> list[str]:
        found = []
        for r in records:
            try:  # other tests put records of their own on the topic, a malformed one among them
                data = json.loads(r.value)["data"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(data, dict) and data.get("integration_id") == integration_id:
                found.append(data["dedup_key"])
        return found

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.ALERTS, until=lambda rs: len(mine(rs)) >= 2)
    assert [k for k in mine(records) if during_fp in k], "the alert taken during the outage is on Kafka"

    async def incident_opened():  # and the platform took it from there once PostgreSQL was back
        page = (await gateway.get("/api/v1/incidents", params={"dedup_key": during_fp})).json()
        assert len(page["items"]) == 1

    await eventually(incident_opened, timeout=90)


async def test_a_webhook_answers_503_within_seconds_while_kafka_is_down(platform, gateway, integration_key, stack):
    headers = {"x-integration-key": integration_key}
    assert (await gateway.post(ALERTMANAGER, json=alertmanager_batch([alert(fp) for fp in fingerprints(1)]),
                               headers=headers)).status_code == 202
    [fp] = fingerprints(1)
    with kafka_down(stack, platform):
        started = time.monotonic()
        refused = await gateway.post(ALERTMANAGER, json=alertmanager_batch([alert(fp)]), headers=headers)
        took = time.monotonic() - started
        assert "retry" in assert_unavailable(refused)["detail"]
        assert took < 7, f"the sender was held {took:.1f}s"  # the publish timeout (5 s), not the producer's 15 s
        assert (await gateway.get("/readyz")).status_code == 503  # nothing to take alerts with: out of service
    print(f"503 after {took:.1f}s")

    async def accepted_again():
        response = await gateway.post(ALERTMANAGER, json=alertmanager_batch([alert(fp)]), headers=headers)
        assert response.status_code == 202, response.text

    await eventually(accepted_again, timeout=60, every=1)

    async def incident_opened():
        page = (await gateway.get("/api/v1/incidents", params={"dedup_key": fp})).json()
        assert len(page["items"]) == 1

    await eventually(incident_opened, timeout=90)
