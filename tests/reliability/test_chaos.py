"""A storm through faults: while 5,000 alerts come in, the incidents service and the SLA service are
killed (SIGKILL) and restarted, and the Kafka broker and PostgreSQL are stopped and started, one
after another. Afterwards every accepted alert has its incident, none twice; every incident has its
SLA timers, none twice; and every service rode the faults out by itself (no restart by hand, but for
the two that were killed). The stall after each fault, from its end to incidents being opened again,
is printed for the closing notes; the test does not judge wall-clock times.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.conftest import _stack
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

ALERTS, BATCH = 5000, 100
WEBHOOK = "/api/v1/integrations/alertmanager"


def server(infra: dict, database: str) -> str:
    return f"{infra['ITSM_DATABASE_URL'].rsplit('/', 1)[0]}/itsm_{database}"


async def scalar(infra: dict, database: str, query: str, *args):
    """One value, or None while PostgreSQL is down."""
    try:
        connection = await asyncpg.connect(server(infra, database), timeout=2)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return None
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def send_all(gateway: httpx.AsyncClient, key: str, keys: list[str], sent: list[int]) -> None:
    """As Alertmanager does: a batch answered 5xx, or not answered, is sent again until it is taken."""
    for start in range(0, len(keys), BATCH):
        body = alertmanager_batch([alert(fp, severity="warning") for fp in keys[start:start + BATCH]])
        while True:
            try:
                response = await gateway.post(WEBHOOK, json=body, headers={"x-integration-key": key}, timeout=10)
                if response.status_code == 202:
                    break
                assert response.status_code >= 500, response.text  # never a 4xx for good alerts
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
        sent.append(start + BATCH)
        await asyncio.sleep(0.05)  # a steady stream, so every fault lands mid-storm


async def test_a_storm_through_crashes_and_outages_loses_nothing_and_doubles_nothing(platform, gateway,
                                                                                     integration_key, infra,
                                                                                     stack_slot):
    stack = _stack(stack_slot)
    if stack._pg_running() is None or stack._kafka_running() is None:
        pytest.skip("needs the PostgreSQL and Kafka this test run started")
    keys = fingerprints(ALERTS)
    prefix = keys[0][:8]
    sent: list[int] = []
    sender = asyncio.create_task(send_all(gateway, integration_key, keys, sent))

    async def opened() -> int:
        return await scalar(infra, "incidents", "SELECT count(*) FROM incidents WHERE dedup_key LIKE $1",
                            prefix + "%") or 0

    async def stall_after(fault_ended: float) -> float:
        """Seconds from the fault's end until incidents are opened again (or all are there)."""
        before = await opened()
        while (now := await opened()) == before and now < ALERTS:
            await asyncio.sleep(0.2)
        return round(time.monotonic() - fault_ended, 1)

    async def when_sent(share: float) -> None:
        while not sent or sent[-1] < ALERTS * share:
            await asyncio.sleep(0.05)

    def pg_stop() -> None:
        with stack._lock():
            stack._pg_stop()

    def pg_start() -> None:
        with stack._lock():
            stack._pg_launch()
            stack._pg_wait()

    killed = {"incidents", "sla"}
    faults = [
        ("incidents killed", lambda: platform.kill("incidents"), lambda: platform.start(["incidents"])),
        ("sla killed", lambda: platform.kill("sla"), lambda: platform.start(["sla"])),
        ("kafka stopped", stack.kafka_stop, stack.kafka_start),
        ("postgresql stopped", pg_stop, pg_start),
    ]
    stalls = {}
    for n, (name, fault, recover) in enumerate(faults, start=1):
        await when_sent(n / (len(faults) + 1))
        await asyncio.to_thread(fault)
        await asyncio.sleep(2)
        await asyncio.to_thread(recover)
        stalls[name] = await stall_after(time.monotonic())
    await asyncio.wait_for(sender, timeout=300)

    async def every_alert_once():
        counts = await scalar(infra, "incidents", """
            SELECT json_build_object('incidents', count(*), 'keys', count(DISTINCT dedup_key))
            FROM incidents WHERE dedup_key LIKE $1""", prefix + "%")
        assert counts is not None and counts == f'{{"incidents" : {ALERTS}, "keys" : {ALERTS}}}', counts

    await eventually(every_alert_once, timeout=240, every=1)

    async def every_timer_once():
        timers = await scalar(infra, "sla", """
            SELECT json_build_object('timers', count(*), 'distinct', count(DISTINCT (incident_id, kind)))
            FROM timers WHERE incident_id = ANY($1::varchar[])""",
            await _incident_ids(infra, prefix))
        assert timers == f'{{"timers" : {2 * ALERTS}, "distinct" : {2 * ALERTS}}}', timers

    await eventually(every_timer_once, timeout=240, every=1)
    died = [name for name, process in platform.processes.items() if process.poll() is not None]
    assert died == [], f"died and were not restarted: {died}"
    async with httpx.AsyncClient(timeout=5) as client:
        for name in platform.processes:
            assert (await client.get(f"{platform.url(name)}/readyz")).status_code == 200, name
    print(f"\nstall after each fault (s, from its end to incidents opening again): {stalls}; "
          f"restarted by the test only: {sorted(killed)}")


async def _incident_ids(infra: dict, prefix: str) -> list[str]:
    connection = await asyncpg.connect(server(infra, "incidents"))
    try:
        return [r["id"] for r in await connection.fetch("SELECT id FROM incidents WHERE dedup_key LIKE $1",
                                                         prefix + "%")]
    finally:
        await connection.close()
