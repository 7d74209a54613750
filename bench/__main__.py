"""`make bench`: start the platform on the test infrastructure and measure it.

Measures:
- latency from an Alertmanager webhook to the incident visible at the gateway, one alert
  at a time (no load), over several runs;
- ingestion (bench/ingest.py): throughput in batches of 500 and in Alertmanager-sized webhooks, latency at a steady
  200 and 500 alerts/s, throughput with one and two replicas of the incidents service, and of the alert path alone
  (the other services paused for the run); every run's counts checked;
- CMDB bulk import rate and impact analysis latency on a 100,000-CI estate (bench/cmdb.py).
- SLA: 100,000 active timers, then how late after the due moment breaches are announced
  (p50, p99) and the sla service's memory (bench/sla.py).
- composed incident detail p50/p99 at a steady 200 requests/s through the gateway (bench/screens.py).
- live updates: delay from an incident change to its SSE event at each of 500 clients, gateway memory
  (bench/stream.py).
- problem detection: delay from the Nth incident on a CI to its candidate problem (bench/problem_detection.py).
- change risk: assessing a change on a CI with 999 dependants on the 100,000-CI estate, p50/p99
  (bench/change_risk.py).
- notifications: delay from an event to its delivery at a webhook receiver at 200 events/s, and deliveries a second
  to a healthy receiver while another one is down (bench/notifications.py).
- requests: the dispatch decision with 500 rules, in process and as a dry run through the gateway (p50/p99), and
  request submission through the gateway by many requesters at once: requests a second, submit latency, and until
  their tasks are assigned (bench/requests.py).
- search: p50/p99 of ranked search over 1,000,000 incidents and 10,000 published articles (loaded straight into the
  databases), at the incidents and knowledge services and through the gateway as an agent and a requester
  (bench/search.py).
- memory: each service's resident set size at the end, against 300 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))

from bench import (  # noqa: E402
    change_risk, cmdb, ingest, notifications, problem_detection, requests, screens, search, sla, stream,
)
from devstack import Stack  # noqa: E402
from processes import Platform  # noqa: E402

RESULTS = REPO / "bench" / "results"
MEMORY_TARGET_MB = 300  # each service's resident set at the end of the bench
BENCH_ALERT_RATE = 1_000_000  # alerts/s and burst of the gateway's per-integration limit, above anything sent here


async def webhook_to_visible(gateway: httpx.AsyncClient, key: str, runs: int) -> list[float]:
    latencies = []
    for _ in range(runs):
        fingerprint = uuid.uuid4().hex
        body = {"version": "4", "status": "firing", "alerts": [{
            "status": "firing", "fingerprint": fingerprint, "labels": {"alertname": "Bench", "severity": "warning"},
            "annotations": {"summary": "benchmark alert"}}]}
        started = time.perf_counter()
        response = await gateway.post("/api/v1/integrations/alertmanager", json=body,
                                      headers={"x-integration-key": key})
        response.raise_for_status()
        while True:
            page = (await gateway.get("/api/v1/incidents", params={"dedup_key": fingerprint})).json()
            if page["items"]:
                break
            await asyncio.sleep(0.005)
        latencies.append(time.perf_counter() - started)
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@contextlib.asynccontextmanager
async def warmed_up(platform: Platform, secret: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An admin's client of the gateway and a new Alertmanager integration's key, after a few alerts (connections
    open, the consumers assigned their partitions)."""
    from itsm_gateway.auth import issue_token

    headers = {"authorization": f"Bearer {issue_token(secret, 'bench', ['admin'])}"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), headers=headers, timeout=60) as gateway:
        key = (await gateway.post("/api/v1/integrations", json={"name": "bench"})).json()["key"]
        await webhook_to_visible(gateway, key, 3)
        yield gateway, key


def memory(platform: Platform) -> dict:
    """Each running service's resident set size now (as the SLA bench reads it), against the target."""
    rss = {name: round(sla.MemoryWatch(process.pid).now_mb(), 1) for name, process in platform.processes.items()}
    over = [name for name, mb in rss.items() if mb >= MEMORY_TARGET_MB]
    return {"rss_mb": rss, "max_rss_mb": max(rss.values()), "target_mb_each": MEMORY_TARGET_MB, "over_target": over,
            "meets_target": not over}


async def measure(platform: Platform, secret: str, incidents_db: str) -> dict:
    async with warmed_up(platform, secret) as (gateway, key):
        latencies = await webhook_to_visible(gateway, key, int(os.environ.get("BENCH_RUNS", "30")))
        ms = [x * 1000 for x in latencies]
        flow = {"runs": len(ms), "median_ms": round(statistics.median(ms), 1),
                "p90_ms": round(percentile(ms, 90), 1), "max_ms": round(max(ms), 1)}
        # The screens and the stream before the loads below: the SLA benchmark leaves 122k timers breaching in the
        # background, which no screen figure should carry (each benchmark measures its own load).
        detail = await screens.run(gateway, secret)
        live = await stream.run(gateway, secret, platform.processes["gateway"].pid)
        ingested = await ingest.run(gateway, key, incidents_db, platform)
        # After ingestion (whose figures should not carry its load), before the SLA benchmark: its breaches are
        # events the notifications service hears of.
        notified = await notifications.run(gateway, platform.infra_env["ITSM_KAFKA_BOOTSTRAP"])
        # Before the CMDB estate (100,000 CIs the requests service copies from itsm.cmdb) and the SLA breaches: their
        # load is not the requests service's own. Its dispatch rules are deleted after; its requests stay.
        ordered = await requests.run(gateway, secret, platform.infra_env["ITSM_KAFKA_BOOTSTRAP"],
                                     platform.url("requests"), platform.internal_key,
                                     incidents_db.rsplit("/", 1)[0] + "/itsm_requests")
        estate = await cmdb.run(gateway, platform.url("cmdb"), incidents_db.rsplit("/", 1)[0] + "/itsm_cmdb",
                                incidents_db, platform.internal_key,
                                settled=lambda: ingest.quiet(platform, incidents_db))
        risk = await change_risk.run(gateway, platform.url("changes"), incidents_db.rsplit("/", 1)[0],
                                     platform.internal_key)
        # After the estate, before the SLA benchmark (whose breaches go on in the background, updating incidents):
        # the million incidents come after every benchmark that lists or counts incidents.
        found = await search.run(platform.url("gateway"), secret, platform.url("incidents"), platform.url("knowledge"),
                                 platform.internal_key, incidents_db.rsplit("/", 1)[0])
        timers = await sla.run(gateway, platform.infra_env["ITSM_KAFKA_BOOTSTRAP"],
                               incidents_db.rsplit("/", 1)[0] + "/itsm_sla", platform.processes["sla"].pid)
        detection = await problem_detection.run(gateway, platform.infra_env["ITSM_KAFKA_BOOTSTRAP"])
    return {"webhook_to_incident_visible": flow, **ingested, "memory": memory(platform),  # memory: at the very end
            **estate, **risk, **timers, **detail, **live, **detection, **notified, **ordered,
            **found}


def main(measuring=measure, *, stack_name: str = "bench", pg_port: int = 25530, kafka_port: int = 29530,
         base_port: int = 18900) -> int:
    """measuring: one benchmark alone (e.g. bench.screens.alone), on a stack of its own name and ports if another
    benchmark may run at the same time (resetting the databases under it would spoil its run)."""
    # SIGTERM like Ctrl-C: the services, then the infrastructure this started, are stopped (as `make run` does).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack = Stack(stack_name, pg_port=pg_port, kafka_port=kafka_port)  # its own, so a test run may go on beside it
    if not os.environ.get("ITSM_KAFKA_BOOTSTRAP"):
        # As the tests do: a local broker starts from no data. Old topics would replay into the fresh databases
        # (a consumer group new to a topic reads it from the start): gigabytes from earlier runs.
        stack.down(purge=True)
    infra = stack.up()
    stack.reset_databases()
    secret = secrets.token_urlsafe(48)
    base_port = int(os.environ.get("ITSM_BENCH_BASE_PORT", str(base_port)))
    platform = Platform(infra, REPO / ".devstack" / stack_name / "logs", base_port=base_port,
                        extra_env={"ITSM_GATEWAY_JWT_SECRET": secret, "ITSM_LOG_LEVEL": "WARNING",
                                   "ITSM_GATEWAY_USER_RATE_PER_SECOND": "0",  # one user drives it all
                                   # and one integration sends every alert: 50,000 in a minute or two, past the
                                   # default 500/s (bursts of 20,000). Still checked on every webhook, as in use.
                                   "ITSM_GATEWAY_ALERT_RATE_PER_SECOND": str(BENCH_ALERT_RATE),
                                   "ITSM_GATEWAY_ALERT_BURST": str(BENCH_ALERT_RATE)})
    try:
        platform.migrate()
        platform.start()
        server = infra["ITSM_DATABASE_URL"].rsplit("/", 1)[0]
        results = asyncio.run(measuring(platform, secret, f"{server}/itsm_incidents"))
    finally:
        platform.stop()
        if stack.started_by_us():
            stack.down()
    RESULTS.mkdir(parents=True, exist_ok=True)
    context = {"measured_at": datetime.now(UTC).isoformat(), "machine": f"{os.cpu_count()} cores"}
    for name, figures in results.items():
        (RESULTS / f"{name}.json").write_text(json.dumps({"benchmark": name, **context, **figures}, indent=2) + "\n")
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    targets = {name: figures["meets_target"] for name, figures in results.items() if "meets_target" in figures}
    print("targets: " + ", ".join(f"{name} {'met' if met else 'MISSED'}" for name, met in targets.items()))
    print(f"written to {RESULTS}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
