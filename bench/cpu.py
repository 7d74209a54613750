"""Where the CPU goes: seconds of CPU per service process, per PostgreSQL database and for Kafka, over a stretch of
work, for the capacity model (README, "Capacity"): alerts per CPU-second for each part of the platform.

CPU is each process's user + system time (psutil, as the other benchmarks read memory). PostgreSQL runs a process
per connection: each backend's time is counted to its database (pg_stat_activity), the rest (checkpointer, WAL
writer, autovacuum and connections that came and went) to "postgres (other)". The broker is the stack's `java`
process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import asyncpg
import psutil


async def _databases(server: str) -> dict[int, str]:
    """PostgreSQL backend pid -> its database."""
    connection = await asyncpg.connect(f"{server}/postgres")
    try:
        rows = await connection.fetch("SELECT pid, datname FROM pg_stat_activity WHERE datname IS NOT NULL")
    finally:
        await connection.close()
    return {row["pid"]: f"postgres {row['datname'].removeprefix('itsm_')}" for row in rows}


async def snapshot(services: Mapping[str, int], server: str, stack_dir: str) -> dict[str, float]:
    """CPU seconds so far: each service (name -> pid), each database's backends, other PostgreSQL work and Kafka,
    those of the stack in `stack_dir` only (tests beside it run brokers and servers of their own)."""
    pids = {pid: name for name, pid in services.items()}
    backends = await _databases(server)
    processes = [p.info for p in psutil.process_iter(["pid", "ppid", "cmdline", "cpu_times"])
                 if p.info["cpu_times"] is not None]  # None: it ended, or is not ours to read
    postmasters = {p["pid"] for p in processes if "postgres" in _line(p) and f"{stack_dir}/pg" in _line(p)}
    seconds: dict[str, float] = {}
    for p in processes:
        if p["pid"] in pids:
            name = pids[p["pid"]]
        elif p["pid"] in postmasters or p["ppid"] in postmasters:
            name = backends.get(p["pid"], "postgres (other)")
        elif (p["cmdline"] or [""])[0].endswith("java") and f"{stack_dir}/kafka" in _line(p):
            name = "kafka"
        else:
            continue
        seconds[name] = seconds.get(name, 0.0) + p["cpu_times"].user + p["cpu_times"].system
    return seconds


def _line(process: dict) -> str:
    return " ".join(process["cmdline"] or ())


def spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each part spent between two snapshots, most first (a backend that is new counts from zero)."""
    used = {name: round(after[name] - before.get(name, 0.0), 2) for name in after}
    return dict(sorted(((n, s) for n, s in used.items() if s > 0), key=lambda pair: -pair[1]))


async def until_idle(services: Mapping[str, int], server: str, stack_dir: str, *, window: float = 2.0,
                     busy: float = 0.1, most: float = 120.0) -> float:
    """Wait until every part spends under `busy` of a core over `window` seconds (the consumers downstream have
    caught up), at most `most` seconds; returns how long that took."""
    started = time.monotonic()
    previous = await snapshot(services, server, stack_dir)
    while time.monotonic() - started < most:
        await asyncio.sleep(window)
        current = await snapshot(services, server, stack_dir)
        if all(s < busy * window for s in spent(previous, current).values()):
            break
        previous = current
    return round(time.monotonic() - started, 1)


def per_cpu_second(count: int, used: Mapping[str, float]) -> dict[str, float]:
    """`count` (alerts) per CPU-second of each part: how much one core of it takes."""
    return {name: round(count / seconds) for name, seconds in used.items() if seconds >= 0.05}
