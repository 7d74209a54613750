"""Deliveries: claiming due ones and recording how each attempt went (the dispatcher's), the delivery log, redrive."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict
from itsm_kit.errors import found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications.channels import After, Outcome, Outgoing
from itsm_notifications.domain.deliveries import (
    CLOSED, DEAD, BreakerPolicy, RetryPolicy, Settled, breaker_after, settle,
)
from itsm_notifications.store.deliveries import SMTP_MISSING, DeliveryStore

MAX_REDRIVE = 1000  # dead deliveries one call puts back: a caller repeats while it gets this many


# --- the dispatcher's transactions, each short ------------------------------------------------------------

async def claim_due(uow: UnitOfWork, *, limit: int, lease_seconds: float, per_receiver: int,
                    channels: Collection[str], ordered: Collection[str], smtp_configured: bool,
                    breaker_policy: BreakerPolicy) -> tuple[list[Mapping[str, Any]], datetime, int]:
    """Due deliveries, marked sending until the lease returned; and how many receivers' breakers are open. A
    breaker whose open time passed lets one delivery through as its probe."""
    now = utcnow()
    lease_until = now + timedelta(seconds=lease_seconds)
    async with uow:
        store = DeliveryStore(uow.session)
        await store.take_turn()
        unusual = await store.unusual_breakers()
        blocked = {b.key for b in unusual if b.blocks(now)}
        probing = {b.key: b for b in unusual if b.probing(now)}
        if not smtp_configured and "email" in channels:
            await store.explain_unconfigured("email", SMTP_MISSING, now)
            channels = [c for c in channels if c != "email"]
        taken = await store.claim(now=now, limit=limit, lease_until=lease_until, per_receiver=per_receiver,
                                  channels=channels, ordered=ordered, blocked=blocked, probing=probing.keys())
        probes = {r["breaker_key"] for r in taken} & probing.keys()
        await store.save_breakers([breaker_after(probing[k], "probe", now, breaker_policy) for k in sorted(probes)],
                                  now)
        await uow.commit()
    return taken, lease_until, len(unusual)


async def record_outcome(uow: UnitOfWork, delivery: Mapping[str, Any], lease_until: datetime, out: Outgoing,
                         outcome: Outcome, duration_ms: int, *, retry: RetryPolicy, breaker_policy: BreakerPolicy,
                         after: After | None = None) -> Settled | None:
    """The attempt in the delivery log, the delivery sent, skipped, pending again after a backoff or dead, the
    channel's `after` step, and the receiver's breaker told: one transaction. None when this replica's claim was
    lost (its lease ran out first)."""
    now = utcnow()
    settled = settle(delivery["attempts"], sent=outcome.sent, skipped=outcome.skipped, permanent=outcome.permanent,
                     retry_after=outcome.retry_after, now=now, policy=retry)
    # A receiver that answered is up, even when it refused this one delivery for good.
    happened = "ok" if outcome.sent or outcome.skipped or outcome.permanent else "failed"
    async with uow:
        store = DeliveryStore(uow.session)
        error = None if outcome.sent else outcome.error
        if not await store.settle(delivery["id"], lease_until, settled, status=outcome.status, error=error,
                                  duration_ms=duration_ms, now=now):
            return None
        if after is not None and (outcome.sent or outcome.skipped):
            await after(uow.session, out, outcome)
        key = delivery["breaker_key"]
        current = await store.breaker(key)
        if not (happened == "ok" and current.state == CLOSED and current.failures == 0):  # most outcomes: no lock
            breaker = await store.breaker_for_update(key, now)
            if (moved := breaker_after(breaker, happened, now, breaker_policy)) != breaker:
                await store.save_breaker(moved, now)
        await uow.commit()
    return settled


# --- the delivery log and redrive ------------------------------------------------------------------------

async def list_deliveries(uow: UnitOfWork, *, limit: int, cursor: str | None, **filters: Any
                          ) -> tuple[list[dict[str, Any]], str | None]:
    async with uow:
        return await DeliveryStore(uow.session).page(limit=limit, cursor=cursor, **filters)


async def get_delivery(uow: UnitOfWork, delivery_id: str) -> dict[str, Any]:
    """A delivery with every attempt made of it, oldest first."""
    async with uow:
        store = DeliveryStore(uow.session)
        delivery = found(await store.get(delivery_id), "delivery", delivery_id)
        return {**delivery, "attempts_log": await store.attempts(delivery_id)}


async def redrive_delivery(uow: UnitOfWork, delivery_id: str) -> dict[str, Any]:
    """A dead delivery back to pending, due now: a 409 for any other."""
    async with uow:
        store = DeliveryStore(uow.session)
        delivery = found(await store.get(delivery_id, for_update=True), "delivery", delivery_id)
        if delivery["state"] != DEAD:
            raise Conflict(f"delivery {delivery_id} is {delivery['state']}: only a dead delivery is redriven",
                           current_state=delivery["state"])
        await store.redrive([delivery_id], utcnow())
        await uow.commit()
    return await get_delivery(uow, delivery_id)


async def redrive_endpoint(uow: UnitOfWork, endpoint_id: str) -> int:
    """The dead deliveries of one endpoint back to pending (oldest first, at most MAX_REDRIVE): how many."""
    async with uow:
        store = DeliveryStore(uow.session)
        count = await store.redrive(await store.dead_of(endpoint_id, MAX_REDRIVE), utcnow())
        await uow.commit()
    return count
