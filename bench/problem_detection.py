"""Problem detection: the delay from the Nth matching incident to its candidate problem (target p99 under 2 s).

- setup: the shipped "same CI" rule (threshold N, read through the gateway); CIS distinct CIs, each given N - 1
  incidents through the gateway's incidents API (under the threshold: nothing opens yet);
- measure: the Nth incident of each CI, one every 1/RATE s; for each, the delay from the gateway accepting it (201)
  to the itsm.problem.opened of its CI's candidate problem (detected_value = the CI) reaching a Kafka consumer. The
  problems service publishes it only after committing the problem, so by then the problem is also visible through
  the gateway (GET /api/v1/problems?incident_id=...), which the run checks for each CI at the end.

`python -m bench.problem_detection` runs this one alone (a stack of its own); BENCH_DETECTION_CIS and
BENCH_DETECTION_RATE change how many CIs and how fast their Nth incidents come.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import httpx
from aiokafka import AIOKafkaConsumer

from itsm_contracts import CloudEvent, topics

CIS = int(os.environ.get("BENCH_DETECTION_CIS", "100"))
RATE = float(os.environ.get("BENCH_DETECTION_RATE", "20"))  # Nth incidents a second
TARGET_P99_MS = 2_000
SETUP_IN_FLIGHT = 16


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def open_incident(gateway: httpx.AsyncClient, ci: str, n: int) -> dict:
    response = await gateway.post("/api/v1/incidents", json={
        "short_description": f"bench detection {ci} #{n}", "affected_ci": ci, "impact": 3, "urgency": 3})
    response.raise_for_status()
    return response.json()


async def run(gateway: httpx.AsyncClient, bootstrap: str) -> dict:
    rules = (await gateway.get("/api/v1/detection-rules")).json()["items"]
    [rule] = [r for r in rules if r["dimension"] == "ci" and r["enabled"]]
    threshold, tag = rule["threshold"], uuid.uuid4().hex[:8]
    cis = [f"bench-ci-{tag}-{n}" for n in range(CIS)]
    limit = asyncio.Semaphore(SETUP_IN_FLIGHT)

    async def below(ci: str) -> None:
        for n in range(threshold - 1):
            async with limit:
                await open_incident(gateway, ci, n)

    await asyncio.gather(*(below(ci) for ci in cis))
    # A group of its own reading from the end, joined before the first Nth incident: no opening is missed.
    consumer = AIOKafkaConsumer(topics.PROBLEMS, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4().hex}",
                                auto_offset_reset="latest", enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    accepted: dict[str, float] = {}
    arrivals: dict[str, float] = {}
    nth: dict[str, str] = {}
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        for partition in consumer.assignment():
            await consumer.position(partition)

        async def collect() -> None:
            wanted = set(cis)
            while len(arrivals) < len(cis):
                for records in (await consumer.getmany(timeout_ms=50)).values():
                    now = time.perf_counter()
                    for record in records:
                        event = CloudEvent.from_json(record.value)
                        value = event.data.get("detected_value") if event.type == "itsm.problem.opened" else None
                        if value in wanted:
                            arrivals.setdefault(value, now)

        collecting = asyncio.create_task(collect())

        async def reach(ci: str) -> None:
            nth[ci] = (await open_incident(gateway, ci, threshold - 1))["id"]
            accepted[ci] = time.perf_counter()

        interval, start, sent = 1 / RATE, time.perf_counter(), []
        for n, ci in enumerate(cis):
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
            sent.append(asyncio.create_task(reach(ci)))
        await asyncio.gather(*sent)
        await asyncio.wait_for(collecting, 120)
    finally:
        await consumer.stop()
    delays = [(arrivals[ci] - accepted[ci]) * 1000 for ci in cis]
    visible = 0
    for ci in cis:  # each candidate through the gateway, linking the incident that reached the threshold
        page = (await gateway.get("/api/v1/problems", params={"incident_id": nth[ci]})).json()["items"]
        visible += any(p["detected_value"] == ci for p in page)
    return {"problem_detection_delay": {
        "cis": len(cis), "threshold": threshold, "rate_per_s": RATE, "candidates_visible": visible,
        "p50_ms": round(percentile(delays, 50), 1), "p99_ms": round(percentile(delays, 99), 1),
        "max_ms": round(max(delays), 1), "target_p99_ms": TARGET_P99_MS}}


async def alone(platform, secret: str, incidents_db: str) -> dict:
    """This benchmark without the others (`python -m bench.problem_detection`)."""
    from itsm_gateway.auth import issue_token

    headers = {"authorization": f"Bearer {issue_token(secret, 'bench', ['admin'])}"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), headers=headers, timeout=60) as gateway:
        return await run(gateway, platform.infra_env["ITSM_KAFKA_BOOTSTRAP"])


def standalone() -> int:
    """A stack and ports of its own: `make bench` or another benchmark may be running on the `bench` stack."""
    from bench.__main__ import main

    return main(alone, stack_name="bench-detection", pg_port=25570, kafka_port=29570, base_port=21000)


if __name__ == "__main__":
    sys.exit(standalone())
