"""Warnings and breaches at the moment they happen, announced once, whatever restarts.

Due moments live in the database (`timers.next_alarm_at`). The scheduler takes what is due
with FOR UPDATE SKIP LOCKED and announces it in the same transaction as it marks it (the
outbox), so a restart or a second replica neither loses nor doubles an announcement. It
sleeps until the next due moment (at most `scheduler_max_sleep_seconds`), and the consumer
wakes it when it has written a timer due sooner than that, so a short target is not slept
through and a busy consumer costs it nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from prometheus_client import Counter, Histogram

from itsm_contracts.events.sla import SlaBreached
from itsm_kit.clock import utcnow
from itsm_kit.runtime import Runtime
from itsm_sla import handlers
from itsm_sla.catalog import Catalog
from itsm_sla.settings import SlaSettings

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
        self.planned: datetime | None = None  # when it looks next; None while it is looking
        self._expected: datetime | None = None  # the soonest alarm written since the last commit

    def wake(self) -> None:
        self._wake.set()

    def expect(self, at: datetime | None) -> None:
        """A timer with this next alarm is being written (in a transaction not committed yet)."""
        if at is not None and (self._expected is None or at < self._expected):
            self._expected = at

    def committed(self) -> None:
        """After a consumer commit: wake only if what it wrote is due before the scheduler looks anyway,
        so a busy consumer costs the scheduler nothing."""
        expected, self._expected = self._expected, None
        if expected is not None and (self.planned is None or expected < self.planned):
            self._wake.set()

    async def fire_due(self, now: datetime) -> int:
        """Every alarm due by `now`, batch after batch; returns how many timers were taken."""
        taken, batch = 0, self.settings.scheduler_batch_size
        while True:
            events = []
            count = await handlers.fire_alarms(self.runtime.unit_of_work(), catalog_of(self.runtime), now, batch,
                                               announced=events)
            for event in events:
                crossed = event.breached_at if isinstance(event, SlaBreached) else event.crossed_at
                ALARMS.labels("breached" if isinstance(event, SlaBreached) else "warning").inc()
                ALARM_LAG.observe(max((now - crossed).total_seconds(), 0))
            taken += count
            if count < batch:
                return taken

    async def run(self) -> None:
        """Look up the next due moment (one indexed query); fire what is due, else sleep until then."""
        while True:
            self._wake.clear()  # before looking, so a wake while it looks is not lost
            self.planned = None
            delay = self.settings.scheduler_max_sleep_seconds
            try:
                now = utcnow()
                next_at = await handlers.next_alarm_at(self.runtime.unit_of_work())
                if next_at is not None and next_at <= now:
                    if await self.fire_due(now):
                        continue  # look again at once: the next due moment has moved
                    delay = 0.05  # due but locked: another replica is announcing them
                elif next_at is not None:
                    delay = min(delay, (next_at - now).total_seconds() + 0.001)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SLA scheduler pass failed; retrying")
                delay = 1
            self.planned = utcnow() + timedelta(seconds=delay)
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
        consumer.committed_listeners.append(scheduler.committed)
    task = asyncio.create_task(scheduler.run(), name="sla-scheduler")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

