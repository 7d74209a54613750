"""Monitoring ingestion under load: throughput, latency at a steady rate, and scaling out the incidents service.

- throughput: ALERTS firing alerts (a fifth of them repeats of alerts already sent) posted as Alertmanager webhooks
  by concurrent senders; accepted/s is until the last 202, processed/s until every notification is committed on
  an incident (opened, or counted on it as a repeat). Twice: in batches of 500 from 4 senders, and in
  Alertmanager-sized webhooks (5 alerts) from 32 senders;
- latency: alerts at a steady rate (200/s, then 500/s) in webhooks of 5, each posted at its moment whether or not
  the one before was answered (as many Alertmanagers send); each alert's time from its post to the moment its
  incident shows in the gateway's incident list;
- replicas: throughput in batches of 500 with one incidents service, then with a second replica in its consumer
  group (measured once the group has shared out the partitions between the two), which is stopped after;
- the alert path alone: throughput in batches of 500 with every service but the gateway and incidents paused until
  the run's last alert is committed (they take its events once resumed), for the capacity model: what the path from
  webhook to incident does with the cores to itself, against what the whole platform does sharing them.

Each run starts once the platform is idle again (the services downstream done with the previous run's incidents).
The batches-of-500 run also measures the CPU each part of the platform spent on it until it was idle again
(bench/cpu.py): alerts per CPU-second of each service, of each database and of Kafka, for the capacity model.

Every run checks its counts: nothing lost (the incidents' alert_count adds up to the alerts sent) and nothing
duplicated (one incident per distinct alert; in the latency runs, each alert seen as exactly one incident); a
run that fails them fails the benchmark. Each figure carries its target and the machine's load average when the
run started (other work on the machine shows in every figure).

`python -m bench.ingest` runs these alone, on a stack of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson

from bench import cpu

ALERTS = 10_000
REPEAT_SHARE = 0.2
TARGET_PROCESSED_PER_S = 5_000  # batches of 500
TARGET_WEBHOOKS_PROCESSED_PER_S = 2_000  # Alertmanager-sized webhooks
TARGET_P99_MS = 250  # at 500 alerts/s
WEBHOOK_ALERTS = 5  # what an Alertmanager sends in one webhook, grouped
LOOK_LIMIT = 200  # the incident list's largest page
LOOK_PAUSE = 0.02  # between two looks of the latency watcher


class CountsWrong(AssertionError):
    """Alerts lost or duplicated on their way to incidents."""


class Webhooks:
    """Posts Alertmanager webhooks on keep-alive HTTP/1.1 connections of its own, as cheaply as an Alertmanager
    would. The senders share the platform's two cores, so what they spend is taken from what is measured: the
    benchmark's httpx client spent 1.4 ms of CPU a webhook of 5 (more than the gateway took to accept it, 0.75 ms),
    this about 0.04 ms (measured with every service but the gateway paused). A connection is opened when none is
    free and kept while it is in use: one idle for KEPT_IDLE seconds is closed, well before the gateway would close
    it (uvicorn's keep-alive is 5 s), so a post never meets a closing connection; and none is ever retried (a repeat
    would count twice on its incident)."""

    KEPT_IDLE = 2.0

    def __init__(self, base_url: httpx.URL | str, key: str):
        url = httpx.URL(str(base_url))
        self.host, self.port = url.host, url.port or 80
        self.head = (f"POST /api/v1/integrations/alertmanager HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                     f"content-type: application/json\r\nx-integration-key: {key}\r\n").encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []  # and when it was last used
        self.cpu_seconds = 0.0  # what posting took of this process's CPU, for the figures

    async def __aenter__(self) -> Webhooks:
        self._started = time.process_time()
        return self

    async def __aexit__(self, *exc) -> None:
        self.cpu_seconds = round(time.process_time() - self._started, 2)
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer, used = self.idle.pop()  # the most recently used first
            if time.monotonic() - used < self.KEPT_IDLE and not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    async def post(self, fingerprints: list[str]) -> None:
        """One webhook of these alerts, firing; returns once the gateway accepted it (any other answer raises)."""
        body = orjson.dumps(batch(fingerprints))
        reader, writer = await self._connection()
        writer.write(b"%scontent-length: %d\r\n\r\n%s" % (self.head, len(body), body))
        status = await reader.readline()
        length = None
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:  # the gateway answers with a length; anything else is not an answer to count on
            writer.close()
            raise RuntimeError(f"webhook not answered with a length: {status!r}" if status else
                               "the gateway closed the connection without answering a webhook")
        answer = await reader.readexactly(length)
        self.idle.append((reader, writer, time.monotonic()))
        if status.split(b" ")[1:2] != [b"202"]:
            raise RuntimeError(f"webhook refused: {status.decode().strip()} {answer[:500].decode()}")


def batch(fingerprints: list[str]) -> dict:
    return {"version": "4", "status": "firing", "groupKey": "bench", "alerts": [
        {"status": "firing", "fingerprint": fp, "labels": {"alertname": "Bench", "severity": "warning", "fp": fp},
         # The run's prefix (a fingerprint's first 10 characters) as a word of its own: a list finds a run's
         # incidents by it, as a frontend searches words (search matches words and their misspellings, not parts).
         # No word another benchmark's records use: "bench alert" matched the screens benchmark's 20 open problems
         # ("bench problem ...") by "bench", and every incident of a run got 3 link suggestions (24,000 events a run,
         # measured), a load of that benchmark's making, not of an alert storm's.
         "annotations": {"summary": f"storm alert {fp[:10]} {fp}"}} for fp in fingerprints]}


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


async def counts(db: asyncpg.Connection, prefix: str, since: datetime | None = None) -> tuple[int, int]:
    """(firing notifications committed on the run's incidents: an opened one counts 1, a repeat adds to its
    alert_count; the run's incidents). `since`: only incidents opened since then (the gateway's time of their alert),
    which an index finds. Without it every incident is read, which a check must do; while a run drains, that read
    every 50 ms would grow with the incidents of the runs before (it was 470,000 rows read in one run) and weigh on
    the database it measures."""
    query = ("SELECT coalesce(sum(alert_count), 0) AS committed, count(*) AS opened FROM incidents"
             " WHERE dedup_key LIKE $1")
    row = await (db.fetchrow(query, f"{prefix}%") if since is None else
                 db.fetchrow(query + " AND opened_at >= $2", f"{prefix}%", since))
    return row["committed"], row["opened"]


async def check_counts(incidents_db: str, prefix: str, alerts: int, distinct: int, *, settle: float = 1.0) -> dict:
    """Nothing lost, nothing duplicated, after `settle` seconds more (a notification applied twice, say after a
    rebalance, would come after the last one awaited)."""
    await asyncio.sleep(settle)
    db = await asyncpg.connect(incidents_db)
    try:
        committed, opened = await counts(db, prefix)
    finally:
        await db.close()
    if committed != alerts or opened != distinct:
        raise CountsWrong(f"run {prefix}: {alerts} alerts sent ({distinct} distinct), {committed} committed on "
                          f"{opened} incidents")
    return {"committed": committed, "incidents": opened}


async def throughput(gateway: httpx.AsyncClient, key: str, incidents_db: str, *, batch_size: int = 500,
                     senders: int = 4, target: int = TARGET_PROCESSED_PER_S, alerts: int = ALERTS,
                     repeat_share: float = REPEAT_SHARE, stalled_after: float = 60) -> dict:
    """One throughput run: `alerts` alerts in webhooks of `batch_size` from `senders` concurrent senders."""
    started_load = load_average()
    prefix = uuid.uuid4().hex[:10]
    distinct = int(alerts * (1 - repeat_share))
    rng = random.Random(1)
    stream = [f"{prefix}{i:08d}" for i in range(distinct)]
    stream += [rng.choice(stream) for _ in range(alerts - distinct)]  # repeats of alerts already sent
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(0, len(stream), batch_size):
        queue.put_nowait(stream[i:i + batch_size])

    async def sender() -> None:
        while not queue.empty():
            await webhooks.post(queue.get_nowait())

    db = await asyncpg.connect(incidents_db)
    try:
        since = datetime.now(UTC) - timedelta(seconds=5)  # before the first post, with room for the clocks
        started = time.perf_counter()
        async with Webhooks(gateway.base_url, key) as webhooks:
            await asyncio.gather(*(sender() for _ in range(senders)))
        accepted = time.perf_counter() - started
        # Until every notification is committed; one that never is (lost) fails the run once nothing moved for a
        # while, rather than waiting for ever.
        last, moved = -1, time.perf_counter()
        while (committed := (await counts(db, prefix, since))[0]) < alerts:
            if committed != last:
                last, moved = committed, time.perf_counter()
            elif time.perf_counter() - moved > stalled_after:
                break
            await asyncio.sleep(0.05)
        processed = time.perf_counter() - started
    finally:
        await db.close()
    checked = await check_counts(incidents_db, prefix, alerts, distinct)
    per_s = round(alerts / processed)
    return {"alerts": alerts, "distinct": distinct, "batch_size": batch_size, "senders": senders,
            "accepted_per_s": round(alerts / accepted), "processed_per_s": per_s,
            "processed_seconds": round(processed, 2), "target_processed_per_s": target,
            "meets_target": per_s >= target, **checked, "senders_cpu_seconds": webhooks.cpu_seconds,
            "load_average_at_start": started_load}


async def latency_at_rate(gateway: httpx.AsyncClient, key: str, incidents_db: str, *, rate: int = 200,
                          seconds: int = 15, per_post: int = WEBHOOK_ALERTS, target_p99_ms: float | None = None,
                          timeout: float = 120) -> dict:
    started_load = load_average()
    prefix = uuid.uuid4().hex[:10]
    order: list[str] = []  # the alerts as posted
    sent: dict[str, float] = {}
    sent_wall: dict[str, float] = {}
    seen: dict[str, float] = {}
    incidents_of: dict[str, set[str]] = {}  # an alert's incidents as listed: exactly one each
    looks = {"looks": 0, "sweeps": 0}  # looks > sweeps: the window held more than a page
    look_ms: list[float] = []  # what a look's call took: a figure's resolution is about that plus LOOK_PAUSE
    interval = per_post / rate

    async def post(fps: list[str]) -> None:
        order.extend(fps)
        sent.update(dict.fromkeys(fps, time.perf_counter()))
        sent_wall.update(dict.fromkeys(fps, time.time()))
        await webhooks.post(fps)

    async def send() -> float:
        """Each webhook at its moment, not after the previous one's answer: a slow answer must not slow the
        rate (the figure is at a steady rate). The seconds the posting took (as if the last one took a turn)."""
        start, posts = time.perf_counter(), []
        for n in range(rate * seconds // per_post):
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
            posts.append(asyncio.create_task(post([f"{prefix}{n:06d}{i:02d}" for i in range(per_post)])))
        posting = time.perf_counter() - start + interval
        await asyncio.gather(*posts)
        return posting

    async def look(oldest: int, cursor: str | None) -> tuple[int, str | None]:
        """One page of the run's incidents opened since the oldest alert not yet seen was posted, oldest first,
        as a frontend lists them. A look goes on from the page the look before ended at (its cursor), until a
        sweep reaches the newest; the next sweep starts again from the oldest unseen alert (an incident opens at
        the moment the gateway took its alert, after its post: one clock). So every incident is found, however
        many incidents the window holds (webhooks that queued at the gateway crowd it with incidents seen
        already), and each look is one call of at most LOOK_LIMIT incidents, with a pause after it: the
        watcher's load on the platform stays small beside what it measures, at any rate.
        (The oldest unseen alert's index, the cursor for the next look.)"""
        while oldest < len(order) and order[oldest] in seen:
            oldest += 1
        if oldest == len(order):
            return oldest, None
        params = {"q": prefix, "sort": "opened_at", "order": "asc", "limit": LOOK_LIMIT,
                  "opened_from": datetime.fromtimestamp(sent_wall[order[oldest]] - 0.01, UTC).isoformat()}
        if cursor:
            params["cursor"] = cursor
        asked = time.perf_counter()
        page = (await gateway.get("/api/v1/incidents", params=params)).json()
        now = time.perf_counter()
        look_ms.append((now - asked) * 1000)
        looks["looks"] += 1
        looks["sweeps"] += cursor is None
        for incident in page["items"]:
            if not incident["dedup_key"].startswith(prefix):
                continue  # another run's, found by a word like this run's (search corrects misspellings)
            seen.setdefault(incident["dedup_key"], now)
            incidents_of.setdefault(incident["dedup_key"], set()).add(incident["id"])
        return oldest, page["next_cursor"]

    async def watch(done: asyncio.Event) -> None:
        oldest, cursor = 0, None
        while not done.is_set() or len(seen) < len(sent):
            oldest, cursor = await look(oldest, cursor)
            await asyncio.sleep(LOOK_PAUSE)

    done = asyncio.Event()
    watcher = asyncio.create_task(watch(done))
    async with Webhooks(gateway.base_url, key) as webhooks:
        sending = await send()
    done.set()
    try:
        await asyncio.wait_for(watcher, timeout)
    except TimeoutError:
        raise CountsWrong(f"run {prefix}: {len(sent) - len(seen)} of {len(sent)} alerts never seen as incidents "
                          f"after {timeout:.0f}s") from None
    twice = [fp for fp, ids in incidents_of.items() if len(ids) > 1]
    if twice or set(seen) != set(sent):
        raise CountsWrong(f"run {prefix}: {len(twice)} alerts seen as two incidents or more, "
                          f"{len(set(seen) - set(sent))} incidents of alerts never sent")
    checked = await check_counts(incidents_db, prefix, len(sent), len(sent))
    latencies = sorted((seen[fp] - sent[fp]) * 1000 for fp in sent)
    pick = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]  # noqa: E731
    figures = {"rate_per_s": rate, "per_webhook": per_post, "alerts": len(latencies),
               "sent_per_s": round(len(latencies) / sending), "p50_ms": round(pick(50), 1),
               "p99_ms": round(pick(99), 1), "max_ms": round(latencies[-1], 1)}
    if target_p99_ms is not None:
        figures |= {"target_p99_ms": target_p99_ms, "meets_target": figures["p99_ms"] < target_p99_ms}
    return {**figures, **checked, **looks, "look_p50_ms": round(sorted(look_ms)[len(look_ms) // 2], 1),
            "load_average_at_start": started_load}


# --- a second replica of the incidents service --------------------------------------------------------------------

async def group_shared(bootstrap: str, group: str, members: int, timeout: float = 60, settle: float = 2) -> float:
    """Wait until the consumer group is stable with `members` members, each holding partitions (the rebalance
    done), then `settle` seconds more for the members' first fetches; the seconds waited."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    started = time.monotonic()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while True:
            [response] = await admin.describe_consumer_groups([group])
            [described] = response.to_object()["groups"]
            holding = [ConsumerProtocolMemberAssignment.decode(m["member_assignment"]).partitions()
                       if m["member_assignment"] else [] for m in described["members"]]  # none yet: b""
            if described["state"] == "Stable" and len(holding) == members and all(holding):
                break
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"consumer group {group} not shared by {members} members after {timeout:.0f}s: "
                                   f"{described['state']}, {len(holding)} members")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    await asyncio.sleep(settle)
    return round(time.monotonic() - started, 1)


async def replicas(gateway: httpx.AsyncClient, key: str, incidents_db: str, platform) -> dict:
    """Throughput in batches of 500 with one incidents service, then with two (on two cores the gain is small;
    what matters is that the counts hold and nothing serialises on one lock)."""
    bootstrap = platform.infra_env["ITSM_KAFKA_BOOTSTRAP"]
    one = await throughput(gateway, key, incidents_db)
    second = platform.start_replica("incidents")
    try:
        rebalanced = await group_shared(bootstrap, "incidents", 2)
        two = await throughput(gateway, key, incidents_db)
    finally:
        platform.stop([second])
    await group_shared(bootstrap, "incidents", 1)  # the first one has every partition back before what follows
    return {"replicas_1": one, "replicas_2": {**two, "rebalanced_after_s": rebalanced},
            "gain": round(two["processed_per_s"] / one["processed_per_s"], 2),
            "target_processed_per_s": TARGET_PROCESSED_PER_S}


# --- where the CPU goes (the capacity model) -------------------------------------------------------------------------

def _watched(platform, incidents_db: str) -> tuple[dict[str, int], str, str]:
    """(each service's pid, the PostgreSQL server, the stack's folder) for bench.cpu."""
    return ({name: process.pid for name, process in platform.processes.items()}, incidents_db.rsplit("/", 1)[0],
            str(platform.log_dir.parent))


async def quiet(platform, incidents_db: str) -> float:
    """Wait until the work a run left downstream (the services reacting to its incidents) is done: each run
    measures its own load. The seconds waited."""
    return await cpu.until_idle(*_watched(platform, incidents_db))


async def capacity(gateway: httpx.AsyncClient, key: str, incidents_db: str, platform) -> dict:
    """The throughput run in batches of 500, with the CPU each part of the platform spent on it from the first post
    until it is idle again (the reactions downstream included): alerts per CPU-second of each part, the figures
    of the capacity model (README, "Capacity")."""
    watched = _watched(platform, incidents_db)
    before = await cpu.snapshot(*watched)
    figures = await throughput(gateway, key, incidents_db)
    drained = await cpu.until_idle(*watched)
    used = cpu.spent(before, await cpu.snapshot(*watched))
    return {**figures, "drained_after_s": drained, "cpu_seconds": used,
            "alerts_per_cpu_second": cpu.per_cpu_second(figures["alerts"], used)}


ALERT_PATH = ("gateway", "incidents")  # the services an alert goes through to its incident


@contextlib.contextmanager
def paused(processes: list) -> Iterator[None]:
    """The processes stopped (SIGSTOP) for the block, and continued after it whatever happens. Paused for seconds, a
    consumer keeps its partitions (static membership: the broker waits the session timeout for it)."""
    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            os.kill(process.pid, signal.SIGCONT)


async def alert_path_alone(gateway: httpx.AsyncClient, key: str, incidents_db: str, platform) -> dict:
    """The throughput run in batches of 500 with every service but those on the alert path paused until the last
    alert is committed, and the CPU each part spent meanwhile: the path's own ceiling on these cores, where the
    capacity run shares them with every reaction downstream."""
    watched = _watched(platform, incidents_db)
    others = {name: process for name, process in platform.processes.items() if name not in ALERT_PATH}
    before = await cpu.snapshot(*watched)
    with paused(list(others.values())):
        figures = await throughput(gateway, key, incidents_db)
        used = cpu.spent(before, await cpu.snapshot(*watched))
    for target in ("target_processed_per_s", "meets_target"):  # reported, not a target: the platform is all of it
        figures.pop(target)
    return {**figures, "paused": sorted(others), "cpu_seconds": used,
            "cores_busy": round(sum(used.values()) / figures["processed_seconds"], 2)}


async def run(gateway: httpx.AsyncClient, key: str, incidents_db: str, platform) -> dict:
    figures = {}
    for name, measured in (
        ("ingest_throughput", lambda: capacity(gateway, key, incidents_db, platform)),
        ("ingest_throughput_alert_path_alone", lambda: alert_path_alone(gateway, key, incidents_db, platform)),
        ("ingest_throughput_webhooks", lambda: throughput(gateway, key, incidents_db, batch_size=WEBHOOK_ALERTS,
                                                          senders=32, target=TARGET_WEBHOOKS_PROCESSED_PER_S)),
        ("ingest_latency_at_rate", lambda: latency_at_rate(gateway, key, incidents_db, rate=200)),
        ("ingest_latency_at_500", lambda: latency_at_rate(gateway, key, incidents_db, rate=500,
                                                          target_p99_ms=TARGET_P99_MS)),
        ("ingest_throughput_replicas", lambda: replicas(gateway, key, incidents_db, platform)),
    ):
        waited = await quiet(platform, incidents_db)
        figures[name] = {**await measured(), "quiet_after_s": waited}
    await quiet(platform, incidents_db)  # nor does the benchmark after these carry their load
    return figures


async def alone(platform, secret: str, incidents_db: str) -> dict:
    """These benchmarks without the others (`python -m bench.ingest`), and the services' memory after them."""
    from bench.__main__ import memory, warmed_up

    async with warmed_up(platform, secret) as (gateway, key):
        return {**await run(gateway, key, incidents_db, platform), "memory": memory(platform)}


def standalone() -> int:
    """A stack and ports of its own: `make bench` or another benchmark may be running on the `bench` stack."""
    from bench.__main__ import main

    return main(alone, stack_name="bench-ingest", pg_port=25630, kafka_port=29630, base_port=21800)


if __name__ == "__main__":
    sys.exit(standalone())
