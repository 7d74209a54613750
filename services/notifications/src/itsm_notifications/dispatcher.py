"""Sends due deliveries, never blocking on one receiver and never losing one.

A loop claims due deliveries in one short transaction (marked sending under a lease) and starts an attempt for
each; it never waits for a batch to finish before claiming more, so a slow or dead receiver holds only its own
slots (at most endpoint_concurrency, or one probe once its breaker opened). Each attempt's outcome is recorded in
a transaction of its own. A replica that dies mid-send leaves its claims sending: once their lease runs out any
replica takes them again (e-mails keep their Message-ID, webhooks their webhook-id: receivers deduplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from itsm_kit.clock import utcnow
from itsm_kit.runtime import Runtime
from itsm_kit.unit_of_work import retrying
from itsm_notifications.channels import Channel, Endpoint, Outcome, Outgoing
from itsm_notifications.channels import registry
from itsm_notifications.domain.deliveries import BreakerPolicy, RetryPolicy
from itsm_notifications.handlers import deliveries as handlers
from itsm_notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)

SETTLE_BATCH = 500  # ended attempts recorded in one transaction at most
# After a wake, the loop waits this long before claiming, so that the sends ending meanwhile free their slots for one
# claim rather than one claim each.
COALESCE_SECONDS = 0.01

DELIVERIES = Counter("itsm_notifications_deliveries_total", "Delivery attempts, by channel and outcome "
                     "(sent, failed, refused, skipped)", ["channel", "outcome"])
DELAY = Histogram("itsm_notifications_delivery_delay_seconds", "From the event to its delivery being sent",
                  ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
BREAKERS_OPEN = Gauge("itsm_notifications_breakers_open", "Receivers whose circuit breaker is open (or probing)")


def retry_policy(settings: NotificationsSettings) -> RetryPolicy:
    return RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_after_max_seconds,
                       settings.max_attempts)


def breaker_policy(settings: NotificationsSettings) -> BreakerPolicy:
    # A probe lost with its replica is given up after a lease, as any claim is.
    return BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_open_seconds,
                         settings.breaker_open_max_seconds, settings.lease_seconds)


def outgoing(row: Mapping[str, Any]) -> Outgoing:
    endpoint = None
    if row["endpoint_id"] is not None and row["endpoint_name"] is not None:
        endpoint = Endpoint(id=row["endpoint_id"], name=row["endpoint_name"], kind=row["endpoint_kind"],
                            url=row["endpoint_url"], secret=row["endpoint_secret"],
                            options=row["endpoint_options"] or {})
    return Outgoing(id=row["id"], channel=row["channel"], recipient=row["recipient"], subject=row["subject"],
                    body=row["body"], payload=row["payload"], created_at=row["created_at"],
                    attempt=row["attempts"] + 1, endpoint=endpoint, record_type=row["record_type"],
                    record_id=row["record_id"], external_id=row["external_id"])


def event_time(row: Mapping[str, Any]) -> datetime:
    """When what the delivery tells of happened: its event's time, else when the delivery was made."""
    try:
        return datetime.fromisoformat(row["payload"]["event"]["time"])
    except (TypeError, KeyError, ValueError):
        return row["created_at"]


class Dispatcher:
    def __init__(self, runtime: Runtime, channels: Mapping[str, Channel]):
        self.runtime = runtime
        self.settings: NotificationsSettings = runtime.settings  # type: ignore[assignment]
        self.channels = dict(channels)
        self.ordered = sorted(name for name, channel in self.channels.items() if channel.ordered)
        self.retry = retry_policy(self.settings)
        self.breakers = breaker_policy(self.settings)
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task] = set()
        self._ended: list[tuple[handlers.Attempt, asyncio.Future]] = []
        self._settle = asyncio.Event()

    def wake(self) -> None:
        """Look for due deliveries now (the pipeline made some, a slot came free)."""
        self._wake.set()

    async def run(self) -> None:
        settings = self.settings
        while True:
            self._wake.clear()
            room = min(settings.dispatch_batch_size, settings.dispatch_concurrency - len(self._sending))
            claimed = 0
            if room > 0:
                try:
                    claimed = await self.claim(room)
                except Exception:
                    log.exception("claiming due deliveries failed; trying again")
            if claimed and claimed == room:
                continue  # more may be due at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), settings.dispatch_poll_seconds)
                await asyncio.sleep(COALESCE_SECONDS)

    async def claim(self, room: int) -> int:
        settings = self.settings
        taken, lease_until, open_breakers = await handlers.claim_due(
            self.runtime.unit_of_work(), limit=room, lease_seconds=settings.lease_seconds,
            per_receiver=settings.endpoint_concurrency, channels=list(self.channels), ordered=self.ordered,
            smtp_configured=settings.smtp_host is not None, breaker_policy=self.breakers)
        BREAKERS_OPEN.set(open_breakers)
        for row in taken:
            task = asyncio.create_task(self.deliver(row, lease_until), name=f"deliver-{row['id']}")
            self._sending.add(task)
            task.add_done_callback(self._done)
        return len(taken)

    def _done(self, task: asyncio.Task) -> None:
        # A slot came free, in this replica and at its receiver: that receiver's next due delivery may go now,
        # not at the next poll. Wakes while a claim runs fold into one.
        self._sending.discard(task)
        self.wake()

    async def deliver(self, row: Mapping[str, Any], lease_until: datetime) -> None:
        channel = self.channels[row["channel"]]
        out = outgoing(row)
        started = time.monotonic()
        if row["endpoint_id"] is not None and out.endpoint is None:
            outcome = Outcome(sent=False, error="the endpoint was removed", permanent=True)
        else:
            outcome = await self.attempt(channel, out)
        duration_ms = int((time.monotonic() - started) * 1000)
        ended = handlers.Attempt(row, lease_until, out, outcome, duration_ms, channel.after)
        settled = asyncio.get_running_loop().create_future()
        self._ended.append((ended, settled))
        self._settle.set()
        await settled  # the slot stays taken until the outcome is recorded: the receiver's share holds

    async def settling(self) -> None:
        """Records ended attempts, all that ended meanwhile in one transaction."""
        while True:
            await self._settle.wait()
            self._settle.clear()
            while self._ended:
                batch, self._ended = self._ended[:SETTLE_BATCH], self._ended[SETTLE_BATCH:]
                await self._record([ended for ended, _ in batch])
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _record(self, ended: list[handlers.Attempt]) -> None:
        try:
            results = await retrying(lambda: handlers.record_outcomes(
                self.runtime.unit_of_work(), ended, retry=self.retry, breaker_policy=self.breakers))
        except Exception:
            if len(ended) > 1:  # one attempt's `after` step may be at fault: the others are recorded alone
                for one in ended:
                    await self._record([one])
                return
            # Its lease runs out and it is attempted again: at least once, never lost.
            log.exception("recording a delivery's outcome failed", extra={"delivery_id": ended[0].delivery["id"]})
            return
        now = utcnow()
        for attempt, settled in zip(ended, results):
            row = attempt.delivery
            if settled is None:
                log.warning("a delivery's lease ran out while it was being sent; another attempt took it",
                            extra={"delivery_id": row["id"]})
                continue
            DELIVERIES.labels(row["channel"], settled.attempt_outcome).inc()
            if settled.state == "sent":
                DELAY.labels(row["channel"]).observe(max(0.0, (now - event_time(row)).total_seconds()))

    async def attempt(self, channel: Channel, out: Outgoing) -> Outcome:
        # Within the lease, so that no other replica takes the delivery while this attempt may still land.
        try:
            async with asyncio.timeout(self.settings.lease_seconds * 0.8):
                return await channel.send(out)
        except TimeoutError:
            return Outcome(sent=False, error="timed out")
        except Exception as exc:
            log.exception("a channel failed unexpectedly", extra={"delivery_id": out.id, "channel": out.channel})
            return Outcome(sent=False, error=f"{type(exc).__name__} in the {out.channel} channel")

    async def stop(self, grace: float) -> None:
        """Attempts under way get `grace` seconds to finish; the rest are taken again after their lease."""
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=grace)
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)


def _fail_loudly(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("the dispatcher died", exc_info=task.exception())
        import os
        import signal

        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[None]:
    """The dispatcher, in runtime.extras["dispatcher"] (the pipeline wakes it once it made deliveries)."""
    settings: NotificationsSettings = runtime.settings  # type: ignore[assignment]
    http = registry.http_client(settings)
    dispatcher = Dispatcher(runtime, registry.channels(settings, http))
    runtime.extras["dispatcher"] = dispatcher
    tasks = [asyncio.create_task(dispatcher.run(), name="dispatcher"),
             asyncio.create_task(dispatcher.settling(), name="dispatcher-settling")]
    for task in tasks:
        task.add_done_callback(_fail_loudly)
    try:
        yield
    finally:
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)
        await dispatcher.stop(grace=5)
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        await http.aclose()
