"""Deliveries: claiming due ones and recording how each attempt went (the dispatcher's), the delivery log, redrive."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict
from itsm_kit.errors import found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications.channels import After, Outcome, Outgoing
from itsm_notifications.domain.deliveries import (
    CLOSED, DEAD, Breaker, BreakerPolicy, RetryPolicy, Settled, breaker_after, settle,
)
from itsm_notifications.store.deliveries import SMTP_MISSING, DeliveryStore, Settling

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


@dataclass(frozen=True)
class Attempt:
    """One attempt made, to be recorded: the delivery as claimed, its claim's lease, what was sent and how it went."""

    delivery: Mapping[str, Any]
    lease_until: datetime
    out: Outgoing
    outcome: Outcome
    duration_ms: int
    after: After | None = None


async def record_outcomes(uow: UnitOfWork, attempts: Sequence[Attempt], *, retry: RetryPolicy,
                          breaker_policy: BreakerPolicy) -> list[Settled | None]:
    """Attempts in the delivery log, their deliveries sent, skipped, pending again after a backoff or dead, the
    channels' `after` steps, and the receivers' breakers told, in the order the attempts ended: one transaction for
    many (the dispatcher's main cost per delivery was these round trips). None for an attempt whose claim was lost
    (its lease ran out first, another replica took the delivery)."""
    now = utcnow()
    settled = [settle(a.delivery["attempts"], sent=a.outcome.sent, skipped=a.outcome.skipped,
                      permanent=a.outcome.permanent, retry_after=a.outcome.retry_after, now=now, policy=retry)
               for a in attempts]
    async with uow:
        store = DeliveryStore(uow.session)
        kept = await store.settle_many([
            Settling(a.delivery["id"], a.lease_until, s, a.outcome.status, None if a.outcome.sent else a.outcome.error,
                     a.duration_ms) for a, s in zip(attempts, settled)], now)
        happened: dict[str, list[str]] = {}
        for a in attempts:
            if a.delivery["id"] not in kept:
                continue
            if a.after is not None and (a.outcome.sent or a.outcome.skipped):
                await a.after(uow.session, a.out, a.outcome)
            # A receiver that answered is up, even when it refused this one delivery for good.
            ok = a.outcome.sent or a.outcome.skipped or a.outcome.permanent
            happened.setdefault(a.delivery["breaker_key"], []).append("ok" if ok else "failed")
        current = await store.breakers_of(happened)
        for key, moves in happened.items():
            breaker = current.get(key, Breaker(key))
            if breaker.state == CLOSED and breaker.failures == 0 and set(moves) == {"ok"}:
                continue  # most outcomes: nothing to change, no lock
            breaker = await store.breaker_for_update(key, now)
            moved = breaker
            for move in moves:
                moved = breaker_after(moved, move, now, breaker_policy)
            if moved != breaker:
                await store.save_breaker(moved, now)
        await uow.commit()
    return [s if a.delivery["id"] in kept else None for a, s in zip(attempts, settled)]


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


async def prune_deliveries(uow: UnitOfWork, before: datetime, batch_size: int) -> int:
    """One batch of the finished deliveries older than the retention deleted; how many."""
    async with uow:
        pruned = await DeliveryStore(uow.session).prune(before, batch_size)
        await uow.commit()
    return pruned
