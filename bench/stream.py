"""Live updates: the delay from an incident change to its SSE event at each of many connected clients, and the
gateway's memory.

- clients: BENCH_STREAM_CLIENTS (500) SSE streams of incidents (`GET /api/v1/stream?type=incident`), each a
  different agent, read with plain sockets so the bench's own parsing costs little;
- changes: BENCH_STREAM_CHANGES (30) PATCHes of one incident through the gateway, one at a time; each one's delay
  is from just before its PATCH is sent to the moment its event arrived at a client, for every client
  (clients x changes samples; target p99 under 300 ms);
- memory: the gateway's resident set size before the clients connect, with them connected, and its peak.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from urllib.parse import urlparse

import httpx
import psutil

CLIENTS = int(os.environ.get("BENCH_STREAM_CLIENTS", "500"))
CHANGES = int(os.environ.get("BENCH_STREAM_CHANGES", "30"))
WARMUP = 3
MARK = re.compile(rb'"description":"bench-(\d+)"')


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Client:
    """One SSE stream on a bare connection: notes when each bench change's event arrives."""

    def __init__(self, url: str, token: str):
        self.url, self.token = urlparse(url), token
        self.seen: dict[int, float] = {}
        self.live = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        reader, self.writer = await asyncio.open_connection(self.url.hostname, self.url.port)
        self.writer.write((f"GET /api/v1/stream?type=incident HTTP/1.1\r\nHost: {self.url.netloc}\r\n"
                           f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n").encode())
        await self.writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"stream refused: {head[:200]!r}")
        carry = b""
        while chunk := await reader.read(65536):
            now = time.perf_counter()
            text = carry + chunk
            if not self.live.is_set() and b": live" in text:
                self.live.set()
            for match in MARK.finditer(text):
                self.seen.setdefault(int(match.group(1)), now)
            carry = text[-64:]  # a mark cut between two reads is found whole in the next
        raise RuntimeError("the stream ended")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


class Memory:
    """The gateway's resident set size (its process and any children), and the peak sampled every 0.2 s."""

    def __init__(self, pid: int):
        self.process, self.peak, self.task = psutil.Process(pid), 0.0, None

    def now_mb(self) -> float:
        processes = [self.process, *self.process.children(recursive=True)]
        return sum(p.memory_info().rss for p in processes) / 2**20

    async def sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.now_mb())
            await asyncio.sleep(0.2)


async def run(gateway: httpx.AsyncClient, secret: str, gateway_pid: int) -> dict:
    from itsm_gateway.auth import issue_token

    memory = Memory(gateway_pid)
    idle = memory.now_mb()
    sampler = asyncio.create_task(memory.sample())
    incident = (await gateway.post("/api/v1/incidents", json={"short_description": "stream bench"})).json()["id"]
    clients = [Client(str(gateway.base_url), issue_token(secret, f"bench-stream-{n}", ["agent"]))
               for n in range(CLIENTS)]
    print(f"stream: connecting {CLIENTS} clients", file=sys.stderr)
    started = time.perf_counter()
    for n, client in enumerate(clients):
        client.task = asyncio.create_task(client.run())
        if n % 50 == 49:
            await asyncio.sleep(0.05)  # no thundering herd on the accept queue
    try:
        await asyncio.wait_for(asyncio.gather(*(c.live.wait() for c in clients)), 120)
        connect_s = time.perf_counter() - started
        connected = memory.now_mb()
        print(f"stream: {CLIENTS} connected in {connect_s:.1f} s; {CHANGES} changes", file=sys.stderr)
        sent: dict[int, float] = {}
        for n in range(WARMUP + CHANGES):
            sent[n] = time.perf_counter()
            response = await gateway.patch(f"/api/v1/incidents/{incident}", json={"description": f"bench-{n}"})
            response.raise_for_status()
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline and not all(n in c.seen for c in clients):
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.1)
        delays = [(c.seen[n] - sent[n]) * 1000 for n in range(WARMUP, WARMUP + CHANGES) for c in clients
                  if n in c.seen]
        missed = CLIENTS * CHANGES - len(delays)
        dead = sum(1 for c in clients if c.task.done())
    finally:
        for client in clients:
            client.close()
        sampler.cancel()
    return {"sse_change_to_event": {
        "clients": CLIENTS, "changes": CHANGES, "samples": len(delays), "missed": missed, "streams_ended": dead,
        "connect_seconds": round(connect_s, 1),
        "p50_ms": round(percentile(delays, 50), 1), "p90_ms": round(percentile(delays, 90), 1),
        "p99_ms": round(percentile(delays, 99), 1), "max_ms": round(max(delays), 1),
        "gateway_rss_mb_idle": round(idle, 1), "gateway_rss_mb_connected": round(connected, 1),
        "gateway_rss_mb_peak": round(memory.peak, 1)}}


async def alone(platform, secret: str, incidents_db: str) -> dict:
    """This benchmark without the others (`python -m bench.stream`)."""
    from itsm_gateway.auth import issue_token

    headers = {"authorization": f"Bearer {issue_token(secret, 'bench', ['admin'])}"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), headers=headers, timeout=60) as gateway:
        return await run(gateway, secret, platform.processes["gateway"].pid)


def standalone() -> int:
    """`python -m bench.stream`: this benchmark alone, on a stack and ports of its own (a `make bench` or another
    benchmark may be running on the `bench` stack)."""
    from bench.__main__ import main

    return main(alone, stack_name="bench-stream", pg_port=25540, kafka_port=29540, base_port=20400)


if __name__ == "__main__":
    sys.exit(standalone())
