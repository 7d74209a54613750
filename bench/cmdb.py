"""The CMDB at estate scale: bulk import rate, then impact analysis latency.

The estate is generated in zones of 1,000 CIs and 3,000 relationships (100 zones: 100,000
CIs and 300,000 relationships), each zone a slice of a real estate:

    20 business services --depends on--> 200 applications --depends on--> 400 service instances
    (applications also depend on each other); instances --runs on--> 250 hosts or 50 Kubernetes
    workloads, and --depends on--> 50 databases (which run on hosts) and on each other;
    workloads --hosted on--> a Kubernetes cluster --hosted on--> the zone's VMware cluster;
    the Kubernetes cluster contains ten of the hosts as its nodes (and needs seven up);
    hosts --hosted on--> the VMware cluster and --connect to--> 28 virtual switches, which
    the cluster hosts too.

Everything in a zone depends on the zone's VMware cluster, so each cluster has 999
dependants: the impact analysis measured is theirs.

- import: one discovery call per zone, through the gateway, from four senders at once
  (collectors of a discovery tool); CIs/s is 100,000 over the time to the last answer;
- drain: until the cmdb outbox is published and the incidents service's copy of the
  CMDB holds every CI (the events flow, measured for the record);
- impact: once PostgreSQL's autovacuum has been through the freshly loaded tables and every
  service keeping a copy of the CMDB has taken the estate in (as it is in an estate that did
  not just arrive: measured, the changes service and its database were still at it, half a
  core for seconds, when the first analyses ran), upstream analyses of the zones' clusters
  through the gateway (and straight at the cmdb service, each call signed as the gateway signs
  its own, to tell the two apart), one at a time, p50/p99.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import orjson

from itsm_kit.internal_auth import Signer

ZONE_CIS, ZONE_RELATIONSHIPS = 1_000, 3_000
SENDERS = 4


def zone(z: int, run: str) -> dict:
    """One zone's discovery payload: its CIs by ref and relationships between refs."""
    rng = random.Random(z)
    items, rels = [], []

    def ci(ref: str, ci_class: str, name: str, criticality: int, **fields) -> str:
        items.append({"ref": ref, "ci_class": ci_class, "name": f"{name}-{run}-z{z}", "criticality": criticality,
                      **fields})
        return ref

    def rel(source: str, type_: str, target: str) -> None:
        rels.append({"source": source, "type": type_, "target": target})

    vmw = ci("vmw", "cluster", "vmw", 1, attributes={"cluster_type": "vmware", "version": "8.0"})
    # Its nodes are ten of the zone's VMs, and it runs while seven are up: redundancy on the way,
    # so an impact analysis decides each dependant's effect (down or degraded) through the full path.
    k8s = ci("k8s", "cluster", "k8s", 1, attributes={"cluster_type": "kubernetes", "version": "1.31",
                                                     "min_members_up": 7})
    rel(k8s, "hosted_on", vmw)
    switches = [ci(f"sw{i}", "network_device", f"sw{i}", 2, attributes={
        "serial_number": f"SW-{run}-{z}-{i}", "device_type": "switch", "vendor": "acme"}) for i in range(28)]
    for switch in switches:  # virtual switches, run by the cluster
        rel(switch, "hosted_on", vmw)
    hosts = []
    for i in range(250):
        hosts.append(ci(f"h{i}", "host", f"host{i}", 3, environment="production", attributes={
            "fqdn": f"host{i}.z{z}.{run}.example.com", "serial_number": f"SN-{run}-{z}-{i}",
            "ip_address": f"10.{z % 250}.{i // 250}.{i % 250 + 1}", "os": "linux", "cpu_count": 8,
            "memory_gb": 32, "virtual": True}))
        rel(hosts[-1], "hosted_on", vmw)
        rel(hosts[-1], "connects_to", switches[i % 28])
        if i < 10:
            rel(k8s, "contains", hosts[-1])  # a Kubernetes node
        else:
            rel(hosts[-1], "connects_to", switches[(i + 14) % 28])
    workloads = []
    for i in range(50):
        workloads.append(ci(f"w{i}", "container_workload", f"wl{i}", 2, attributes={
            "cluster": f"k8s-{run}-z{z}", "namespace": f"ns{i % 5}", "kind": "deployment", "replicas": 3}))
        rel(workloads[-1], "hosted_on", k8s)
    databases = []
    for i in range(50):
        databases.append(ci(f"d{i}", "database", f"db{i}", 1, attributes={
            "engine": "postgresql", "endpoint": f"host{i * 5}.z{z}.{run}.example.com:5432", "version": "17"}))
        rel(databases[-1], "runs_on", hosts[i * 5])
    instances = []
    for i in range(400):
        instances.append(ci(f"i{i}", "service_instance", f"inst{i}", 2, environment="production",
                            attributes={"version": "1.0", "port": 8080}))
        rel(instances[-1], "runs_on", hosts[i % 250] if i < 300 else workloads[i % 50])
        rel(instances[-1], "depends_on", databases[i % 50])
    for i in range(0, 400, 2):
        rel(instances[i], "depends_on", instances[i + 1])
    apps = [ci(f"a{i}", "application", f"app{i}", 2, attributes={"version": "2.3"}) for i in range(200)]
    for i, app in enumerate(apps):
        for k in (0, 1, 2):
            rel(app, "depends_on", instances[(2 * i + 200 * k + k) % 400])
        if i < 100:
            rel(app, "depends_on", apps[i + 100])
    for i in range(20):
        service = ci(f"b{i}", "business_service", f"service{i}", 1, attributes={"service_tier": "gold"})
        for k in range(22 if i == 0 else 21):
            rel(service, "depends_on", apps[(i * 10 + k * 7) % 200])
    rng.shuffle(rels)  # a discovery tool has no reason to send them in a helpful order
    assert (len(items), len(rels)) == (ZONE_CIS, ZONE_RELATIONSHIPS), (len(items), len(rels))
    return {"source": "bench-discovery", "items": items, "relationships": rels}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def import_estate(gateway: httpx.AsyncClient, payloads: list[dict], senders: int) -> tuple[float, dict]:
    queue: asyncio.Queue = asyncio.Queue()
    for p in payloads:  # encoded before the clock starts: the load generator's work is not the CMDB's
        queue.put_nowait(orjson.dumps(p))
    reports: list[dict] = []

    async def sender() -> None:
        while not queue.empty():
            response = await gateway.post("/api/v1/cmdb/imports", content=queue.get_nowait(), timeout=300,
                                          headers={"content-type": "application/json"})
            response.raise_for_status()
            reports.append(orjson.loads(response.content))

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    elapsed = time.perf_counter() - started
    counts = {k: sum(r["counts"][k] for r in reports) for k in reports[0]["counts"]}
    rel_counts = {k: sum(r["relationship_counts"][k] for r in reports) for k in reports[0]["relationship_counts"]}
    return elapsed, {"items": counts, "relationships": rel_counts,
                     "cluster_ids": [next(i["ci_id"] for i in r["items"] if i["ref"] == "vmw") for r in reports]}


async def vacuumed(cmdb_db: str, timeout: float = 300) -> float:
    """Wait while autovacuum works on the cmdb database; how long that took."""
    started = time.perf_counter()
    db = await asyncpg.connect(cmdb_db)
    try:
        quiet = 0
        while time.perf_counter() - started < timeout and quiet < 3:
            busy = await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                                     "AND datname = current_database()")
            quiet = 0 if busy else quiet + 1
            await asyncio.sleep(1)
        return time.perf_counter() - started
    finally:
        await db.close()


async def drained(cmdb_db: str, incidents_db: str, cis: int, timeout: float = 900) -> float:
    started = time.perf_counter()
    cmdb, incidents = await asyncpg.connect(cmdb_db), await asyncpg.connect(incidents_db)
    try:
        while time.perf_counter() - started < timeout:
            pending = await cmdb.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            copied = await incidents.fetchval("SELECT count(*) FROM cmdb_cis")
            if pending == 0 and copied >= cis:
                break
            await asyncio.sleep(0.5)
        return time.perf_counter() - started
    finally:
        await cmdb.close()
        await incidents.close()


async def impact_latency(client: httpx.AsyncClient, path: str, clusters: list[str], runs: int) -> dict:
    for cluster in clusters[:5]:  # warm-up: connections, plans, caches
        (await client.get(f"{path}/{cluster}/impact")).raise_for_status()
    latencies, dependants = [], []
    for n in range(runs):
        started = time.perf_counter()
        response = await client.get(f"{path}/{clusters[n % len(clusters)]}/impact")
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        dependants.append(len(response.json()["items"]))
    return {"runs": runs, "dependants_median": statistics.median(dependants),
            "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(max(latencies), 1)}


def signed_for(service: str, internal_key: str):
    """httpx auth: each request signed for `service` as the gateway signs its calls (the service takes no others)."""
    signer = Signer(internal_key)

    def sign(request: httpx.Request) -> httpx.Request:
        request.headers.update(signer.headers(service, "bench"))
        return request

    return sign


async def run(gateway: httpx.AsyncClient, cmdb_url: str, cmdb_db: str, incidents_db: str, internal_key: str,
              settled: Callable[[], Awaitable[float]] | None = None) -> dict:
    """settled: waits until every part of the platform is idle (bench.ingest.quiet); the seconds it took."""
    zones = int(os.environ.get("BENCH_CMDB_ZONES", "100"))
    run_id = os.urandom(3).hex()
    payloads = [zone(z, run_id) for z in range(zones)]
    cis, relationships = zones * ZONE_CIS, zones * ZONE_RELATIONSHIPS
    elapsed, imported = await import_estate(gateway, payloads, senders=SENDERS)
    assert imported["items"]["created"] == cis and imported["relationships"]["created"] == relationships, imported
    drain = await drained(cmdb_db, incidents_db, cis)

    again_zones = payloads[: max(1, zones // 10)]
    again_elapsed, again = await import_estate(gateway, again_zones, senders=SENDERS)
    assert again["items"]["unchanged"] == len(again_zones) * ZONE_CIS, again

    settle = await vacuumed(cmdb_db)
    idle = await settled() if settled is not None else None
    clusters = imported["cluster_ids"]
    runs = int(os.environ.get("BENCH_CMDB_IMPACT_RUNS", "300"))
    through_gateway = await impact_latency(gateway, "/api/v1/cmdb/cis", clusters, runs)
    async with httpx.AsyncClient(base_url=cmdb_url, timeout=60, auth=signed_for("cmdb", internal_key)) as cmdb:
        direct = await impact_latency(cmdb, "/cis", clusters, runs)
    return {
        "cmdb_import": {
            "cis": cis, "relationships": relationships, "calls": zones, "senders": SENDERS,
            "seconds": round(elapsed, 1), "cis_per_s": round(cis / elapsed),
            "relationships_per_s": round(relationships / elapsed),
            "events_drained_seconds": round(drain, 1),
            "reimport_unchanged_cis_per_s": round(len(again_zones) * ZONE_CIS / again_elapsed),
        },
        "cmdb_impact": {"estate_cis": cis, "estate_relationships": relationships, "direction": "upstream",
                        "max_depth": 10, "autovacuum_wait_seconds": round(settle, 1),
                        "copies_settled_wait_seconds": idle,
                        "through_gateway": through_gateway, "cmdb_direct": direct},
    }
