"""Warnings and breaches at the moment they happen, announced once, whatever restarts.

Due moments live in the database (`timers.next_alarm_at`). The scheduler takes what is due
with FOR UPDATE SKIP LOCKED and announces it in the same transaction as it marks it (the
outbox), so a restart or a second replica neither loses nor doubles an announcement. It
sleeps until the next due moment (at most `scheduler_max_sleep_seconds`), and the consumer
wakes it whenever it has written timers, so a short target is not slept through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

from prometheus_client import Counter, Histogram

from itsm_contracts.events.sla import SlaBreached
from itsm_kit.runtime import Runtime
from itsm_sla import handlers
from itsm_sla.catalog import Catalog
from itsm_sla.settings import SlaSettings
from itsm_sla.store import TimerRepository

log = logging.getLogger(__name__)

ALARMS = Counter("itsm_sla_alarms_total", "SLA warnings and breaches announced", ["kind"])
ALARM_LAG = Histogram("itsm_sla_alarm_lag_seconds", "From the moment a threshold is crossed to its announcement",
                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30, 300))


def catalog_of(runtime: Runtime) -> Catalog:
    """The process's catalog of definition and calendar versions (they never change once written)."""
    return runtime.extras.setdefault("catalog", Catalog())


class AlarmScheduler:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.settings: SlaSettings = runtime.settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def fire_due(self, now: datetime) -> int:
        """Every alarm due by `now`, batch after batch; returns how many timers were taken."""
        taken, batch = 0, self.settings.scheduler_batch_size
        while True:
            async with self.runtime.transaction() as session:
                events = []
                count = await handlers.fire_alarms(session, self.runtime.outbox, catalog_of(self.runtime), now, batch,
                                                   announced=events)
            for event in events:
                crossed = event.breached_at if isinstance(event, SlaBreached) else event.crossed_at
                ALARMS.labels("breached" if isinstance(event, SlaBreached) else "warning").inc()
                ALARM_LAG.observe(max((now - crossed).total_seconds(), 0))
            taken += count
            if count < batch:
                return taken

    async def run(self) -> None:
        while True:
            self._wake.clear()  # before the pass, so a wake during it is not lost
            try:
                await self.fire_due(handlers.utcnow())
                async with self.runtime.sessions() as session:
                    next_at = await TimerRepository(session).next_alarm_at()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SLA scheduler pass failed; retrying")
                await asyncio.sleep(1)
                continue
            delay = self.settings.scheduler_max_sleep_seconds
            if next_at is not None:
                delay = min(delay, max((next_at - handlers.utcnow()).total_seconds(), 0) + 0.001)
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass


@contextlib.asynccontextmanager
async def alarm_scheduler(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook: the scheduler, woken by the consumer after each commit. Every replica runs one."""
    if not runtime.settings.scheduler_enabled:
        yield
        return
    scheduler = AlarmScheduler(runtime)
    runtime.extras["scheduler"] = scheduler
    for consumer in runtime.consumers:
        consumer.committed_listeners.append(scheduler.wake)
    task = asyncio.create_task(scheduler.run(), name="sla-scheduler")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

