"""Transactional outbox: events commit with the state change, a relay publishes them.

A crash between publishing and marking published means the event goes out again on
the next pass: at-least-once, made exactly-once in effect by every consumer's inbox.

Every replica runs a relay, but one publishes at a time: each pass takes a transaction-scoped
advisory lock first, and a relay that finds it taken leaves the pass to its holder. Passes
publish the oldest rows in id order and the next pass starts only once the last one committed
or rolled back, so an aggregate's events reach Kafka in order whichever replicas run; when a
replica dies its transaction ends, and the lock with it, and another takes over on its next
poll. (Sharing rows with FOR UPDATE SKIP LOCKED, as before, let one relay publish a later event
of an aggregate while another still held an earlier one.)

An event Kafka refuses for itself (too large, say) must not hold up the rest: each refusal is
counted on its row, and after `max_attempts` the row is set aside (`set_aside_at`; the
`itsm_outbox_set_aside` gauge counts them) and the events behind it go out. An operator puts a
fixed row back with `UPDATE outbox SET set_aside_at = NULL, attempts = 0 WHERE id = ...`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException, InvalidTimestampError, InvalidTopicError, MessageSizeTooLargeError, RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from sqlalchemy import Update, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from itsm_contracts import CloudEvent, EventData, event_json
from itsm_kit import context
from itsm_kit.clock import utcnow
from itsm_kit.db import among, insert_rows, outbox
from itsm_kit.ids import uuid7
from itsm_kit.kafka import MAX_RECORD_BYTES, partitioner
from itsm_kit.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_REFUSED, OUTBOX_SET_ASIDE

log = logging.getLogger(__name__)

# The advisory lock a relay holds while it publishes (advisory locks are per database, and each
# service has its own): the bytes of "itsm-pub".
PUBLISHING = int.from_bytes(b"itsm-pub", "big")
# A pass waits on Kafka inside its transaction. Should the relay's host vanish without closing its
# connection, PostgreSQL ends the session (and frees the lock) after this long idle in it, rather
# than after the hours TCP keepalive takes. Far above the producer's request timeout (15 s).
PASS_IDLE_LIMIT = "60s"
# What Kafka (or the client) says of a record itself: sending it again as it is will not help.
REFUSALS = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError, CorruptRecordException,
            InvalidTimestampError, InvalidTopicError)


# Whether this task staged events since the relay was last told. A commit that staged none (most runs of a service
# reacting to others' events) gives the relay nothing to publish: waking it for each such commit cost an empty pass,
# a transaction, per commit.
_staged = context.NotedInTask("outbox_staged")


def refused(exc: BaseException) -> bool:
    return isinstance(exc, REFUSALS)


class Outbox:
    """Stages a service's events in the caller's transaction."""

    def __init__(self, source: str):
        self.source = source
        self.relay: OutboxRelay | None = None

    def _causes(self, cause: CloudEvent | None) -> tuple[str | None, str | None]:
        if cause is None:
            return context.current_correlation_id(), context.causation_id.get()
        # Work done for several events at once names each one's own cause.
        return cause.correlationid or cause.id, cause.id

    def _row(self, data: EventData, subject: str, sequence: int, cause: CloudEvent | None,
             time: datetime | None = None) -> dict:
        """The outbox row of one event. A bulk write stages hundreds of thousands of events: its bytes are written
        directly (`event_json`), not through a validated envelope."""
        correlation, causation = self._causes(cause)
        event_id = uuid7()  # time-ordered: the consumers' inbox index takes them at its end
        return {"event_id": event_id, "topic": data.topic, "key": subject,
                "payload": event_json(data, source=self.source, subject=subject, sequence=sequence, time=time,
                                      correlationid=correlation, causationid=causation, event_id=event_id)}

    async def add_many(self, session: AsyncSession,
                       raised_by: list[tuple[str, list[tuple[int, EventData]], CloudEvent | None]]) -> None:
        """Stage what several aggregates raised, in order, in one statement: (subject, raised, cause) each."""
        now = utcnow()
        rows = [self._row(data, subject, sequence, cause, now)
                for subject, raised, cause in raised_by for sequence, data in raised]
        await insert_rows(session, outbox, rows)
        for _, raised, _ in raised_by:
            raised.clear()
        if rows:
            _staged.note()

    def committed(self) -> None:
        """After a commit: tell the relay there is work if this task staged some, so it need not wait for its next
        poll."""
        if _staged.taken() and self.relay is not None:
            self.relay.wake()


def marked_published(ids: list[int]) -> Update:
    """The relay's statement for rows Kafka took. An outbox is small while nothing is pending and grows by the
    thousand in a storm: `among`, so that a plan made while it was small stays cheap."""
    return update(outbox).where(among(outbox.c.id, "ids", ids)).values(published_at=func.now())


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.25,
        retention: timedelta = timedelta(hours=1),
        max_attempts: int = 5,
    ):
        self.sessions = sessions
        self.producer = producer
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retention = retention
        self.max_attempts = max_attempts
        self._wakeup = asyncio.Event()
        # Test seam: runs after Kafka acknowledged a batch, before it is marked sent.
        self.after_publish: Callable[[list[int]], Awaitable[None]] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished events; returns how many went out (none while another
        replica's relay is publishing)."""
        async with self.sessions() as session, session.begin():
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(PUBLISHING))):
                return 0
            await session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = '{PASS_IDLE_LIMIT}'"))
            rows = (
                await session.execute(
                    select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload, outbox.c.attempts)
                    .where(outbox.c.published_at.is_(None), outbox.c.set_aside_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self.batch_size)
                    # Only a relay of the previous version (no advisory lock) could hold any: wait for it.
                    .with_for_update()
                )
            ).all()
            if not rows:
                return 0
            sent, refusal = rows, None
            failure = await self._publish(rows)
            if failure is not None:
                if not refused(failure):
                    raise failure
                sent, refusal = await self._one_by_one(rows)  # which one it was
            for topic, count in Counter(r.topic for r in sent).items():
                EVENTS_PUBLISHED.labels(topic).inc(count)
            ids = [r.id for r in sent]
            if self.after_publish is not None and ids:
                await self.after_publish(ids)
            if ids:
                await session.execute(marked_published(ids))
            if refusal is not None:
                await self._count_refusal(session, *refusal)
        return len(sent)

    async def _publish(self, rows) -> BaseException | None:
        """Send the rows and wait for every acknowledgement; the first failure, if any."""
        acks: list[asyncio.Future] = []
        failure: BaseException | None = None
        try:
            await self._send(rows, acks)
        except Exception as exc:  # the client refused one before sending: those queued still go
            failure = exc
        for result in await asyncio.gather(*acks, return_exceptions=True):
            if failure is None and isinstance(result, BaseException):
                failure = result
        return failure

    async def _one_by_one(self, rows) -> tuple[list, tuple[Any, BaseException] | None]:
        """After a refusal somewhere in a pass: the rows sent singly, in order, up to the one refused.
        Those before it go out (again: the consumers' inboxes drop the copies); none after it."""
        sent = []
        for r in rows:
            try:
                await (await self.producer.send(r.topic, r.payload, key=r.key.encode()))
            except Exception as exc:
                if not refused(exc):
                    raise
                return sent, (r, exc)
            sent.append(r)
        return sent, None

    async def _count_refusal(self, session: AsyncSession, row, exc: BaseException) -> None:
        attempts = row.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:2000]
        values: dict[str, Any] = {"attempts": attempts, "last_error": error}
        OUTBOX_REFUSED.labels(row.topic).inc()
        if attempts >= self.max_attempts:
            values["set_aside_at"] = func.now()
            OUTBOX_SET_ASIDE.inc()
            log.error("outbox event set aside after %d refusals: %s", attempts, error,
                      extra={"outbox_id": row.id, "topic": row.topic, "key": row.key})
        else:
            log.warning("Kafka refused an outbox event (%d of %d): %s", attempts, self.max_attempts, error,
                        extra={"outbox_id": row.id, "topic": row.topic})
        await session.execute(update(outbox).where(outbox.c.id == row.id).values(**values))

    async def _send(self, rows, acks: list[asyncio.Future]) -> None:
        """Hand the rows to the producer in record batches, one per partition at a time.

        Each row goes to the partition its key hashes to, as a plain send would put it, in
        id order within the partition; the idempotent producer keeps batches of a partition
        in order, so per-key order holds. A batch costs a fraction of a send per record.
        """
        partitions: dict[str, list[int]] = {}
        open_batches: dict[tuple[str, int], Any] = {}
        for r in rows:
            if r.topic not in partitions:
                partitions[r.topic] = sorted(await self.producer.partitions_for(r.topic))
            key = r.key.encode()
            if (size := DefaultRecordBatchBuilder.estimate_size_in_bytes(key, r.payload, [])) > MAX_RECORD_BYTES:
                # Refused here, before any of it is queued: a batch the broker refuses would upset the
                # idempotent producer's numbering of the partition's later batches.
                raise MessageSizeTooLargeError(f"outbox event {r.id} is {size} bytes, over {MAX_RECORD_BYTES}")
            partition = partitioner(key, partitions[r.topic], partitions[r.topic])  # where send() would put it
            batch = open_batches.get((r.topic, partition))
            if batch is None:
                batch = open_batches[(r.topic, partition)] = self.producer.create_batch()
            if batch.append(key=key, value=r.payload, timestamp=None) is None:  # full (and closed): send it
                acks.append(await self.producer.send_batch(batch, r.topic, partition=partition))
                batch = open_batches[(r.topic, partition)] = self.producer.create_batch()
                if batch.append(key=key, value=r.payload, timestamp=None) is None:  # bigger than a batch
                    acks.append(await self.producer.send(r.topic, r.payload, key=key, partition=partition))
        for (topic, partition), batch in open_batches.items():
            if batch.record_count():
                batch.close()  # ours alone: no plain send() may add to it in the producer's queue
                acks.append(await self.producer.send_batch(batch, topic, partition=partition))

    async def purge_published(self) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(outbox).where(outbox.c.published_at < func.now() - self.retention)
            )
            set_aside = outbox.c.set_aside_at.is_not(None)
            backlog, aside = (await session.execute(
                select(func.count().filter(~set_aside), func.count().filter(set_aside))
                .where(outbox.c.published_at.is_(None)))).one()
        OUTBOX_BACKLOG.set(backlog or 0)
        OUTBOX_SET_ASIDE.set(aside or 0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = 0.0
        while True:
            self._wakeup.clear()  # before the pass, so a wake during it is not lost
            try:
                published = await self.publish_batch()
                if loop.time() >= next_purge:
                    await self.purge_published()
                    next_purge = loop.time() + 10
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                published = 0
                await asyncio.sleep(1)
            if published < self.batch_size:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
