"""SLA at scale: 100,000 active timers, then how late breaches are announced, and sla's memory.

- load: 50,000 incidents opened (their itsm.incident.opened events published as the
  incidents service does) give 100,000 running default timers (response and resolution);
  timers/s is how fast sla takes them;
- lag: with those timers running, 1,000 more incidents (100 a second) fall under a
  definition with a 10 s resolution target and 50/75/90 % warnings; for each breach, the
  lag from its due time to the itsm.sla.breached event arriving at a Kafka consumer (and,
  separately, to the moment sla's scheduler noticed it, `detected_at`);
- memory: the sla process's resident set size, sampled throughout (peak) and at the end.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from itsm_contracts import CloudEvent, envelope, topics
from itsm_contracts.events.incidents import IncidentOpened

LOAD_INCIDENTS = 50_000
LAG_INCIDENTS = 1_000
LAG_RATE = 100  # incidents a second
TARGET_SECONDS = 10


def opened(incident_id: str, priority: int, service: str | None = None) -> bytes:
    now = datetime.now(UTC)
    data = IncidentOpened(incident_id=incident_id, number=f"B{incident_id[:8]}", short_description="sla bench",
                          state="new", impact=3, urgency=3, priority=priority, origin="manual", opened_at=now,
                          business_service=service)
    return envelope(data, source="itsm/incidents", subject=incident_id, sequence=1).to_json()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class MemoryWatch:
    """The peak resident set size of a process, sampled every half second."""

    def __init__(self, pid: int):
        self.process, self.peak, self._task = psutil.Process(pid), 0, None

    def now_mb(self) -> float:
        return self.process.memory_info().rss / 2**20

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.now_mb())
            await asyncio.sleep(0.5)

    def __enter__(self) -> MemoryWatch:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()


async def publish(producer: AIOKafkaProducer, events: list[tuple[str, bytes]]) -> None:
    acks = [await producer.send(topics.INCIDENTS, value, key=key.encode()) for key, value in events]
    await asyncio.gather(*acks)


async def active_timers(db: asyncpg.Connection) -> int:
    return await db.fetchval("SELECT count(*) FROM timers WHERE stage IN ('in_progress', 'paused')")


async def load(producer: AIOKafkaProducer, db: asyncpg.Connection, incidents: int) -> dict:
    """Open `incidents` incidents of priorities 3-5 (no breach during the bench); wait for their timers."""
    before = await db.fetchval("SELECT count(*) FROM timers")
    started = time.perf_counter()
    for offset in range(0, incidents, 5_000):
        await publish(producer, [(i, opened(i, 3 + n % 3)) for n in range(offset, min(offset + 5_000, incidents))
                                 for i in [str(uuid.uuid4())]])
    published = time.perf_counter() - started
    while await db.fetchval("SELECT count(*) FROM timers") - before < 2 * incidents:
        await asyncio.sleep(0.25)
    taken = time.perf_counter() - started
    return {"incidents": incidents, "published_seconds": round(published, 2), "timers_seconds": round(taken, 2),
            "timers_per_s": round(2 * incidents / taken)}


async def breach_lag(gateway: httpx.AsyncClient, producer: AIOKafkaProducer, bootstrap: str) -> dict:
    service = f"bench-sla-{uuid.uuid4().hex[:8]}"
    created = await gateway.post("/api/v1/sla/definitions", json={
        "name": f"Bench {service}", "applies_to": {"business_services": [service]},
        "resolution": {"target": f"PT{TARGET_SECONDS}S"}, "warning_thresholds": [50, 75, 90]})
    created.raise_for_status()
    definition_id = created.json()["id"]
    # A group of its own reading from the end: joined before the first incident, so no breach is missed.
    consumer = AIOKafkaConsumer(topics.SLA, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4().hex}",
                                auto_offset_reset="latest", enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        for partition in consumer.assignment():
            await consumer.position(partition)
        arrivals: dict[str, tuple[float, dict]] = {}  # timer id -> (arrival, breach data)

        async def collect() -> None:
            while len(arrivals) < LAG_INCIDENTS:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    for record in records:
                        event = CloudEvent.from_json(record.value)
                        if event.type == "itsm.sla.breached" and event.data.get("definition_id") == definition_id:
                            arrivals[event.subject] = (time.time(), event.data)

        collecting = asyncio.create_task(collect())
        interval, start = 1 / LAG_RATE, time.perf_counter()
        for n in range(LAG_INCIDENTS):
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
            incident_id = str(uuid.uuid4())
            await producer.send_and_wait(topics.INCIDENTS, opened(incident_id, 5, service), key=incident_id.encode())
        await asyncio.wait_for(collecting, TARGET_SECONDS + 60)
    finally:
        await consumer.stop()
    lag = [(arrival - datetime.fromisoformat(data["breached_at"]).timestamp()) * 1000
           for arrival, data in arrivals.values()]
    noticed = [(datetime.fromisoformat(d["detected_at"]) - datetime.fromisoformat(d["breached_at"])).total_seconds()
               * 1000 for _, d in arrivals.values()]
    return {"breaches": len(lag), "target_seconds": TARGET_SECONDS, "rate_per_s": LAG_RATE,
            "p50_ms": round(percentile(lag, 50), 1), "p99_ms": round(percentile(lag, 99), 1),
            "max_ms": round(max(lag), 1), "detected_p50_ms": round(percentile(noticed, 50), 1),
            "detected_p99_ms": round(percentile(noticed, 99), 1)}


async def run(gateway: httpx.AsyncClient, bootstrap: str, sla_db: str, sla_pid: int) -> dict:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    db = await asyncpg.connect(sla_db)
    try:
        with MemoryWatch(sla_pid) as memory:
            loaded = await load(producer, db, LOAD_INCIDENTS)
            active = await active_timers(db)
            lag = await breach_lag(gateway, producer, bootstrap)
            end_mb = memory.now_mb()
        peak_mb = max(memory.peak, end_mb)
    finally:
        await db.close()
        await producer.stop()
    return {"sla_timers_load": loaded,
            "sla_breach_lag": {"active_timers": active, **lag, "rss_mb_peak": round(peak_mb, 1),
                               "rss_mb_end": round(end_mb, 1)}}
