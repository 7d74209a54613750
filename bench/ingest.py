"""Monitoring ingestion under load: throughput in batches, and latency at a steady rate.

- throughput: N firing alerts (a share of them repeats) posted as Alertmanager batches by
  a few concurrent senders; accepted/s is until the last 202, processed/s until every
  notification is committed on an incident (opened or counted as a repeat);
- latency: alerts at a steady rate; each one's time from its webhook post to the moment
  its incident shows in the gateway's incident list.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx


def batch(fingerprints: list[str]) -> dict:
    return {"version": "4", "status": "firing", "groupKey": "bench", "alerts": [
        {"status": "firing", "fingerprint": fp, "labels": {"alertname": "Bench", "severity": "warning", "fp": fp},
         # The run's prefix (a fingerprint's first 10 characters) as a word of its own: a list finds a run's
         # incidents by it, as a frontend searches words (search matches words and their misspellings, not parts).
         "annotations": {"summary": f"bench alert {fp[:10]} {fp}"}} for fp in fingerprints]}


async def committed_notifications(db: asyncpg.Connection, prefix: str) -> int:
    """Firing notifications committed on incidents: opened ones count 1, repeats add to alert_count."""
    return await db.fetchval("SELECT coalesce(sum(alert_count), 0) FROM incidents WHERE dedup_key LIKE $1",
                             f"{prefix}%")


async def throughput(gateway: httpx.AsyncClient, key: str, incidents_db: str, *, alerts: int = 10_000,
                     batch_size: int = 500, senders: int = 4, repeat_share: float = 0.2) -> dict:
    prefix = uuid.uuid4().hex[:10]
    distinct = int(alerts * (1 - repeat_share))
    rng = random.Random(1)
    stream = [f"{prefix}{i:08d}" for i in range(distinct)]
    stream += [rng.choice(stream) for _ in range(alerts - distinct)]  # repeats of alerts already sent
    batches = [stream[i:i + batch_size] for i in range(0, len(stream), batch_size)]
    queue: asyncio.Queue = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)

    async def sender() -> None:
        while not queue.empty():
            response = await gateway.post("/api/v1/integrations/alertmanager", json=batch(queue.get_nowait()),
                                          headers={"x-integration-key": key})
            response.raise_for_status()

    db = await asyncpg.connect(incidents_db)
    try:
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        accepted = time.perf_counter() - started
        while await committed_notifications(db, prefix) < alerts:
            await asyncio.sleep(0.05)
        processed = time.perf_counter() - started
        opened = await db.fetchval("SELECT count(*) FROM incidents WHERE dedup_key LIKE $1", f"{prefix}%")
    finally:
        await db.close()
    assert opened == distinct, f"dedup broke: {opened} incidents for {distinct} distinct alerts"
    return {"alerts": alerts, "distinct": distinct, "batch_size": batch_size, "senders": senders,
            "accepted_per_s": round(alerts / accepted), "processed_per_s": round(alerts / processed),
            "processed_seconds": round(processed, 2)}


async def latency_at_rate(gateway: httpx.AsyncClient, key: str, *, rate: int = 200, seconds: int = 15,
                          per_post: int = 10) -> dict:
    prefix = uuid.uuid4().hex[:10]
    sent: dict[str, float] = {}
    sent_wall: dict[str, float] = {}
    seen: dict[str, float] = {}
    interval = per_post / rate

    async def send() -> None:
        start = time.perf_counter()
        for n in range(rate * seconds // per_post):
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
            fps = [f"{prefix}{n:06d}{i:02d}" for i in range(per_post)]
            sent.update(dict.fromkeys(fps, time.perf_counter()))
            sent_wall.update(dict.fromkeys(fps, time.time()))
            response = await gateway.post("/api/v1/integrations/alertmanager", json=batch(fps),
                                          headers={"x-integration-key": key})
            response.raise_for_status()

    async def look() -> None:
        """Every incident of this run opened since the oldest alert not yet seen was sent, as a frontend
        lists them. An incident opens after its alert is sent (one clock), so nothing is missed; a wider
        window would make each look fetch hundreds of incidents seen already, and the bench measure
        its own polling more than the platform."""
        unseen = [sent_wall[fp] for fp in sent if fp not in seen]
        if not unseen:
            return
        params = {"q": prefix, "sort": "opened_at", "order": "asc", "limit": 200,
                  "opened_from": datetime.fromtimestamp(min(unseen) - 0.01, UTC).isoformat()}
        while True:
            page = (await gateway.get("/api/v1/incidents", params=params)).json()
            now = time.perf_counter()
            for incident in page["items"]:
                seen.setdefault(incident["dedup_key"], now)
            if not page["next_cursor"]:
                return
            params["cursor"] = page["next_cursor"]

    async def watch(done: asyncio.Event) -> None:
        while not done.is_set() or len(seen) < len(sent):
            await look()
            await asyncio.sleep(0.005)

    done = asyncio.Event()
    watcher = asyncio.create_task(watch(done))
    await send()
    done.set()
    await asyncio.wait_for(watcher, 120)
    latencies = sorted((seen[fp] - sent[fp]) * 1000 for fp in sent)
    pick = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]  # noqa: E731
    return {"rate_per_s": rate, "alerts": len(latencies), "p50_ms": round(pick(50), 1), "p99_ms": round(pick(99), 1),
            "max_ms": round(latencies[-1], 1)}
