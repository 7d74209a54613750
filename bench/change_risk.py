"""Change risk: how long assessing a change takes on the 100,000-CI estate (target p99 under 200 ms).

Run after bench/cmdb.py has built the estate (zones of 1,000 CIs; each zone's VMware cluster has 999 dependants,
20 of them business services):
- drain: until the changes service's copy of the CMDB holds every CI and relationship the cmdb service does (it
  learns of them only from itsm.cmdb);
- measure: normal changes on the zones' clusters (CIs with many dependants), each reassessed on request
  (POST /changes/{id}/risk: the upstream walk, business services and critical CIs, failed changes, open P1/P2
  incidents, the window) through the gateway and straight at the changes service (signed as the gateway signs its
  calls), one at a time, p50/p99.

`python -m bench.change_risk` runs this one alone (a stack of its own, the estate built first; BENCH_CMDB_ZONES
sets its size).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid

import asyncpg
import httpx

from bench.cmdb import percentile, signed_for

TARGET_P99_MS = 200
CHANGES = int(os.environ.get("BENCH_RISK_CHANGES", "20"))
RUNS = int(os.environ.get("BENCH_RISK_RUNS", "300"))


async def drained(cmdb_db: str, changes_db: str, timeout: float = 1800) -> tuple[float, int, int]:
    """Wait until the changes service's CMDB copy holds what the cmdb service does; how long, CIs, relationships."""
    started = time.perf_counter()
    cmdb, changes = await asyncpg.connect(cmdb_db), await asyncpg.connect(changes_db)
    try:
        while True:
            pending = await cmdb.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            cis, relationships = await cmdb.fetchval("SELECT count(*) FROM cis"), \
                await cmdb.fetchval("SELECT count(*) FROM ci_relationships")
            copied = await changes.fetchval("SELECT count(*) FROM cmdb_cis")
            related = await changes.fetchval("SELECT count(*) FROM cmdb_relationships")
            if (pending == 0 and copied >= cis and related >= relationships) or time.perf_counter() - started > timeout:
                return time.perf_counter() - started, copied, related
            await asyncio.sleep(0.5)
    finally:
        await cmdb.close()
        await changes.close()


async def latency(client: httpx.AsyncClient, path: str, changes: list[dict], runs: int) -> dict:
    for change in changes[:5]:  # warm-up: connections, plans, caches
        (await client.post(f"{path}/{change['id']}/risk")).raise_for_status()
    latencies, levels = [], []
    for n in range(runs):
        started = time.perf_counter()
        response = await client.post(f"{path}/{changes[n % len(changes)]['id']}/risk")
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        levels.append(response.json()["risk"])
    return {"runs": runs, "levels": sorted(set(levels)), "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "max_ms": round(max(latencies), 1)}


async def run(gateway: httpx.AsyncClient, changes_url: str, server: str, internal_key: str) -> dict:
    drain, cis, relationships = await drained(f"{server}/itsm_cmdb", f"{server}/itsm_changes")
    db = await asyncpg.connect(f"{server}/itsm_changes")
    try:
        clusters = [r["id"] for r in await db.fetch(
            "SELECT id FROM cmdb_cis WHERE ci_class = 'cluster' AND name LIKE 'vmw-%' ORDER BY id LIMIT $1", CHANGES)]
    finally:
        await db.close()
    assert clusters, "no estate: run bench/cmdb.py first"
    changes = []
    for cluster in clusters:
        response = await gateway.post("/api/v1/changes", json={
            "short_description": f"bench risk {uuid.uuid4().hex[:8]}", "change_type": "normal",
            "planned_start": "2031-03-04T14:00:00Z", "planned_end": "2031-03-04T16:00:00Z", "affected_cis": [cluster]})
        response.raise_for_status()
        changes.append(response.json())
    factors = {f["name"]: f["detail"].split(": ")[0] for f in changes[0]["risk_factors"]}
    through_gateway = await latency(gateway, "/api/v1/changes", changes, RUNS)
    async with httpx.AsyncClient(base_url=changes_url, timeout=60, auth=signed_for("changes", internal_key)) as direct:
        straight = await latency(direct, "/changes", changes, RUNS)
    return {"change_risk": {
        "estate_cis": cis, "estate_relationships": relationships, "copy_drained_seconds": round(drain, 1),
        "changes": len(changes), "dependants_per_ci": "999 (a zone's VMware cluster)",
        "first_assessment": {"risk": changes[0]["risk"], "factors": factors},
        "through_gateway": through_gateway, "changes_direct": straight, "target_p99_ms": TARGET_P99_MS,
        "median_p50_ms": statistics.median([through_gateway["p50_ms"], straight["p50_ms"]])}}


async def alone(platform, secret: str, incidents_db: str) -> dict:
    """This benchmark without the others, after the estate is built (`python -m bench.change_risk`)."""
    from bench import cmdb
    from itsm_gateway.auth import issue_token

    server = incidents_db.rsplit("/", 1)[0]
    headers = {"authorization": f"Bearer {issue_token(secret, 'bench', ['admin'])}"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), headers=headers, timeout=60) as gateway:
        # Built as make bench builds it; its own figures are make bench's to write.
        await cmdb.run(gateway, platform.url("cmdb"), f"{server}/itsm_cmdb", incidents_db, platform.internal_key)
        return await run(gateway, platform.url("changes"), server, platform.internal_key)


def standalone() -> int:
    """A stack and ports of its own: `make bench` or another benchmark may be running on the `bench` stack."""
    from bench.__main__ import main

    return main(alone, stack_name="bench-risk", pg_port=25580, kafka_port=29580, base_port=21100)


if __name__ == "__main__":
    sys.exit(standalone())
