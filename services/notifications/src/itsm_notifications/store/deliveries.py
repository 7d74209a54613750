"""Deliveries: what the dispatcher claims and settles, the delivery log, redrive."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY, Integer, String, and_, cast, delete, exists, func, or_, select, text, true, tuple_, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.pagination import newest_first, page_of
from itsm_notifications.domain.deliveries import (
    CLOSED, DEAD, FINISHED, PENDING, SENDING, SMTP, UNFINISHED, Breaker, Settled,
)
from itsm_notifications.store.tables import (
    breakers, connector_receipts, deliveries, delivery_attempts, endpoints, external_links,
)

# Claims of every replica take turns (a few milliseconds each), so that the per-receiver caps, the one probe of a
# half-open breaker and the order of a connector's deliveries hold across replicas.
CLAIM_LOCK = 0x6E6F7469  # "noti"
SMTP_MISSING = "e-mail is not configured (ITSM_NOTIFICATIONS_SMTP_HOST is unset): waiting, not attempted"


@dataclass(frozen=True)
class Settling:
    """One attempt's outcome, as the delivery and the log record it."""

    delivery_id: str
    lease_until: datetime
    settled: Settled
    status: int | None
    error: str | None
    duration_ms: int


class DeliveryStore:
    def __init__(self, session: AsyncSession):
        self.session = session

    # --- the dispatcher ----------------------------------------------------------------------------------

    async def unusual_breakers(self) -> list[Breaker]:
        """Every breaker not closed (open or probing)."""
        rows = (await self.session.execute(select(breakers).where(breakers.c.state != CLOSED))).all()
        return [Breaker(r.key, r.state, r.failures, r.opened_count, r.retry_at) for r in rows]

    async def take_turn(self) -> None:
        """Wait for any other replica's claim to commit (a transaction-scoped lock)."""
        await self.session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))

    async def claim(self, *, now: datetime, limit: int, lease_until: datetime, per_receiver: int,
                    channels: Collection[str], ordered: Collection[str], blocked: Collection[str],
                    probing: Collection[str]) -> list[Mapping[str, Any]]:
        """Due deliveries marked sending until `lease_until`, with their endpoint and external id: pending ones
        whose time came and sending ones whose lease ran out (their replica died); none through a `blocked`
        receiver, at most `per_receiver` in flight through one (one through a `probing` one), and of an ordered
        channel only the oldest unfinished delivery per endpoint and record. Call take_turn first.

        Receiver by receiver, each taking its oldest few from the deliveries_due index: the cost is what is
        taken, not the backlog (a dead receiver's thousands waiting are never read)."""
        d = deliveries
        receivers = [key for key in await self._receivers(channels) if key not in blocked]
        if not receivers:
            return []
        sending = (await self.session.execute(
            select(d.c.breaker_key, func.count()).where(d.c.state == SENDING, d.c.lease_until >= now,
                                                        d.c.breaker_key.in_(receivers))
            .group_by(d.c.breaker_key))).all()
        in_flight = dict((key, count) for key, count in sending)
        rooms = {key: (1 if key in probing else per_receiver) - in_flight.get(key, 0) for key in receivers}
        rooms = {key: room for key, room in rooms.items() if room > 0}
        if not rooms:
            return []
        older = deliveries.alias("older")
        due = or_(and_(d.c.state == PENDING, d.c.next_attempt_at <= now),
                  and_(d.c.state == SENDING, d.c.lease_until < now))
        conditions = [due, d.c.channel.in_(list(channels))]
        if ordered:
            conditions.append(or_(d.c.channel.not_in(list(ordered)), d.c.record_id.is_(None), ~exists().where(
                older.c.endpoint_id == d.c.endpoint_id, older.c.record_id == d.c.record_id,
                older.c.state.in_(UNFINISHED),
                tuple_(older.c.created_at, older.c.id) < tuple_(d.c.created_at, d.c.id))))
        wanted = func.unnest(cast(list(rooms), ARRAY(String)), cast(list(rooms.values()), ARRAY(Integer))) \
            .table_valued("key", "room").render_derived(name="wanted")
        oldest = (select(d.c.id).where(d.c.breaker_key == wanted.c.key, *conditions)
                  .order_by(d.c.next_attempt_at, d.c.id).limit(wanted.c.room)
                  .with_for_update(skip_locked=True).lateral("oldest"))
        ids = list((await self.session.scalars(select(oldest.c.id).select_from(wanted.join(oldest, true()))
                                               .limit(limit))).all())
        if not ids:
            return []
        await self.session.execute(update(d).where(d.c.id.in_(ids))
                                   .values(state=SENDING, lease_until=lease_until, updated_at=now))
        query = (select(d, endpoints.c.name.label("endpoint_name"), endpoints.c.kind.label("endpoint_kind"),
                        endpoints.c.url.label("endpoint_url"), endpoints.c.secret.label("endpoint_secret"),
                        endpoints.c.options.label("endpoint_options"),
                        external_links.c.external_id.label("external_id"))
                 .select_from(d.outerjoin(endpoints, endpoints.c.id == d.c.endpoint_id)
                              .outerjoin(external_links, and_(external_links.c.endpoint_id == d.c.endpoint_id,
                                                              external_links.c.record_type == d.c.record_type,
                                                              external_links.c.record_id == d.c.record_id)))
                 .where(d.c.id.in_(ids)).order_by(d.c.next_attempt_at, d.c.id))
        return [dict(row._mapping) for row in (await self.session.execute(query)).all()]

    async def _receivers(self, channels: Collection[str]) -> list[str]:
        """Every receiver with deliveries pending or sending, but disabled endpoints (theirs wait): a skip scan of
        the deliveries_due index, one probe per receiver, however long each one's queue."""
        keys = (await self.session.scalars(text("""
            WITH RECURSIVE receivers(key) AS (
                (SELECT breaker_key FROM deliveries WHERE state IN ('pending', 'sending')
                 ORDER BY breaker_key LIMIT 1)
                UNION ALL
                SELECT (SELECT breaker_key FROM deliveries WHERE state IN ('pending', 'sending')
                        AND breaker_key > receivers.key ORDER BY breaker_key LIMIT 1)
                FROM receivers WHERE receivers.key IS NOT NULL)
            SELECT key FROM receivers WHERE key IS NOT NULL"""))).all()
        disabled = set((await self.session.scalars(
            select(endpoints.c.id).where(endpoints.c.enabled.is_(False), endpoints.c.id.in_(keys)))).all())
        return [key for key in keys if key not in disabled and (key != SMTP or "email" in channels)]

    async def explain_unconfigured(self, channel: str, why: str, now: datetime) -> None:
        """Due deliveries of a channel that cannot send yet say why in the log (they stay pending: no attempt)."""
        await self.session.execute(update(deliveries).where(
            deliveries.c.channel == channel, deliveries.c.state == PENDING, deliveries.c.next_attempt_at <= now,
            deliveries.c.last_error.is_distinct_from(why)).values(last_error=why, updated_at=now))

    async def settle_many(self, settling: Sequence[Settling], now: datetime) -> set[str]:
        """The outcomes of attempts this replica claimed: each delivery moved on and its row in the log. Only
        those whose claim still holds (state sending, the same lease): the ids settled."""
        if not settling:
            return set()
        kept = set((await self.session.scalars(text("""
            UPDATE deliveries d SET state = v.state, attempts = v.attempts, lease_until = NULL,
                   last_status = v.status, last_error = v.error, updated_at = :now,
                   next_attempt_at = coalesce(v.next_attempt_at, d.next_attempt_at),
                   sent_at = CASE WHEN v.state = 'sent' THEN CAST(:now AS timestamptz) ELSE d.sent_at END
            FROM unnest(CAST(:ids AS varchar[]), CAST(:leases AS timestamptz[]), CAST(:states AS varchar[]),
                        CAST(:attempts AS integer[]), CAST(:statuses AS integer[]), CAST(:errors AS text[]),
                        CAST(:nexts AS timestamptz[])) AS v(id, lease_until, state, attempts, status, error,
                                                            next_attempt_at)
            WHERE d.id = v.id AND d.state = 'sending' AND d.lease_until = v.lease_until
            RETURNING d.id"""), {
            "now": now, "ids": [s.delivery_id for s in settling], "leases": [s.lease_until for s in settling],
            "states": [s.settled.state for s in settling], "attempts": [s.settled.attempts for s in settling],
            "statuses": [s.status for s in settling], "errors": [s.error for s in settling],
            "nexts": [s.settled.next_attempt_at for s in settling]})).all())
        logged = [s for s in settling if s.delivery_id in kept]
        if logged:
            await self.session.execute(text("""
                INSERT INTO delivery_attempts (delivery_id, number, at, outcome, status, error, duration_ms)
                SELECT v.id, coalesce((SELECT max(a.number) FROM delivery_attempts a WHERE a.delivery_id = v.id), 0)
                       + 1, :now, v.outcome, v.status, v.error, v.duration_ms
                FROM unnest(CAST(:ids AS varchar[]), CAST(:outcomes AS varchar[]), CAST(:statuses AS integer[]),
                            CAST(:errors AS text[]), CAST(:durations AS integer[]))
                     AS v(id, outcome, status, error, duration_ms)"""), {
                "now": now, "ids": [s.delivery_id for s in logged],
                "outcomes": [s.settled.attempt_outcome for s in logged], "statuses": [s.status for s in logged],
                "errors": [s.error for s in logged], "durations": [s.duration_ms for s in logged]})
        return kept

    async def breakers_of(self, keys: Collection[str]) -> dict[str, Breaker]:
        rows = (await self.session.execute(select(breakers).where(breakers.c.key.in_(list(keys))))).all()
        return {r.key: Breaker(r.key, r.state, r.failures, r.opened_count, r.retry_at) for r in rows}

    async def breaker_for_update(self, key: str, now: datetime) -> Breaker:
        await self.session.execute(pg_insert(breakers).values(
            key=key, state=CLOSED, failures=0, opened_count=0, retry_at=None, updated_at=now
        ).on_conflict_do_nothing())
        row = (await self.session.execute(select(breakers).where(breakers.c.key == key).with_for_update())).one()
        return Breaker(row.key, row.state, row.failures, row.opened_count, row.retry_at)

    async def save_breaker(self, breaker: Breaker, now: datetime) -> None:
        await self.session.execute(update(breakers).where(breakers.c.key == breaker.key).values(
            state=breaker.state, failures=breaker.failures, opened_count=breaker.opened_count,
            retry_at=breaker.retry_at, updated_at=now))

    async def save_breakers(self, changed: Collection[Breaker], now: datetime) -> None:
        for breaker in changed:
            await self.save_breaker(breaker, now)

    # --- the delivery log and redrive -------------------------------------------------------------------

    async def page(self, *, limit: int, cursor: str | None, record_id: str | None = None,
                   endpoint_id: str | None = None, state: str | None = None, recipient: str | None = None,
                   event_id: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        query = select(deliveries)
        for column, value in (("record_id", record_id), ("endpoint_id", endpoint_id), ("state", state),
                              ("recipient", recipient), ("event_id", event_id)):
            if value is not None:
                query = query.where(deliveries.c[column] == value)
        query = newest_first(query, deliveries.c.created_at, deliveries.c.id, limit=limit, cursor=cursor)
        rows = [dict(r._mapping) for r in (await self.session.execute(query)).all()]
        return page_of(rows, limit, lambda r: (r["created_at"], r["id"]))

    async def get(self, delivery_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        query = select(deliveries).where(deliveries.c.id == delivery_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        return dict(row._mapping) if row else None

    async def attempts(self, delivery_id: str) -> list[dict[str, Any]]:
        query = select(delivery_attempts).where(delivery_attempts.c.delivery_id == delivery_id) \
            .order_by(delivery_attempts.c.number)
        return [dict(r._mapping) for r in (await self.session.execute(query)).all()]

    async def redrive(self, ids: Collection[str], now: datetime) -> int:
        """Dead deliveries back to pending, due now, their attempts counted afresh (the log keeps the old ones)."""
        result = await self.session.execute(update(deliveries).where(
            deliveries.c.id.in_(list(ids)), deliveries.c.state == DEAD).values(
            state=PENDING, attempts=0, next_attempt_at=now, lease_until=None, updated_at=now))
        return result.rowcount

    async def dead_of(self, endpoint_id: str, limit: int) -> list[str]:
        query = (select(deliveries.c.id).where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.state == DEAD)
                 .order_by(deliveries.c.created_at, deliveries.c.id).limit(limit)
                 .with_for_update(skip_locked=True))
        return list((await self.session.scalars(query)).all())

    async def breaker(self, key: str) -> Breaker:
        row = (await self.session.execute(select(breakers).where(breakers.c.key == key))).first()
        return Breaker(row.key, row.state, row.failures, row.opened_count, row.retry_at) if row else Breaker(key)

    async def prune(self, before: datetime, limit: int) -> int:
        """Up to `limit` finished deliveries made before `before` deleted (their attempts with them), and the
        connector webhooks taken before it; how many deliveries."""
        old = (select(deliveries.c.id).where(deliveries.c.state.in_(FINISHED), deliveries.c.created_at < before)
               .limit(limit).with_for_update(skip_locked=True).scalar_subquery())
        pruned = (await self.session.execute(delete(deliveries).where(deliveries.c.id.in_(old)))).rowcount
        await self.session.execute(delete(connector_receipts).where(connector_receipts.c.received_at < before))
        return pruned

    async def forget_breaker(self, key: str) -> None:
        """A new receiver (an endpoint's url changed): its predecessor's failures say nothing of it."""
        await self.session.execute(delete(breakers).where(breakers.c.key == key))
