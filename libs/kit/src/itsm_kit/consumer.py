"""Idempotent event consumer: effects and the inbox record commit together, then the offset.

- A redelivered event (same id) is skipped: its inbox row exists.
- A handler error is retried a bounded number of times; then the event goes to
  `<topic>.dlq` with the error, is recorded as dead-lettered, and the consumer moves on.
- A database or broker outage is not the event's fault: the batch is re-read from the
  last committed offset once the outage passes, and nothing is dead-lettered for it.
- A rebalance may hand a partition to another member while this one still applies a batch
  of it: the other may record some of its events first (the inbox key refuses ours, and the
  transaction rolls back) and this one's offset commit is refused. Neither is an error: the
  inbox is read again, and whoever reads the batch next finds it handled.
- A consumer that keeps up reads a few records at a time, and a run's cost is mostly per run (its transaction, the
  inbox, each statement), not per event: with a linger, a short read waits that long for more before it is applied,
  as a producer's linger.ms does for its batches (measured on the alert storm bench, at 0.05 s: half the
  transactions of the services downstream of incidents, and 40 % less of their CPU).
- Offsets are committed at most once per `commit_interval`, not after every run: a commit is a request and a write
  to the group's log at the broker, and the inbox already makes events re-read after a crash or a rebalance (at most
  that interval's) change nothing. A deliberate stop commits what was applied.
- With a group instance id (static membership), a replica restarted under the same name takes
  its partitions straight back, without a rebalance; one that is stopped leaves the group at once.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Container, Mapping
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from pydantic import ValidationError
from sqlalchemy import insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from itsm_contracts import CloudEvent, EventData, UnknownEventType, parse_data
from itsm_contracts.topics import dead_letter
from itsm_kit import context
from itsm_kit.db import inbox, insert_rows
from itsm_kit.kafka import PLAINTEXT, KafkaSecurity, leave_group, start_with_retry
from itsm_kit.outages import is_outage
from itsm_kit.metrics import CONSUMER_ASSIGNMENTS, CONSUMER_LAG, CONSUMER_OVERLAPS, EVENTS_CONSUMED

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, CloudEvent, EventData], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, list[tuple[CloudEvent, EventData]]], Awaitable[None]]
# The event types a consumer wants for the read in hand, asked once a read, after it: for a service that reacts to
# some types only while someone asked it to (notifications: an enabled subscription naming one). A record of
# another type is passed over as one of a type nobody handles: not read further, not recorded, its offset moves on.
# What was asked before the read (a subscription committed before the event was published) is always in the answer.
Interest = Callable[[], Awaitable[Collection[str]]]


@dataclass(frozen=True)
class Batched:
    """A handler that can also apply a run of consecutive events at once.

    `many` must have exactly the effects of `one` applied to each event in order; it is
    what the consumer uses while nothing fails, and `one` isolates a failing event. One
    Batched registered for several event types takes runs that mix them.
    """

    one: Handler
    many: BatchHandler

    @classmethod
    def of(cls, many: BatchHandler) -> Batched:
        """A handler written for runs; a single event is a run of one."""
        async def one(session: AsyncSession, event: CloudEvent, data: EventData) -> None:
            await many(session, [(event, data)])

        return cls(one=one, many=many)


# Which of these event ids the inbox holds. One array parameter: one prepared statement whatever the run's length.
# One index probe per id (LATERAL ... LIMIT 1), whatever the planner believes of the inbox's size: during a burst its
# statistics lag far behind, and a scan of the whole inbox per batch is what it chose then (measured: 49 ms a batch at
# 30,000 rows, against under 1 ms probing). Written once, as text: built per run as a SQLAlchemy expression, its
# construction and cache key cost 240 µs of CPU a run.
HANDLED = text("SELECT found.event_id FROM unnest(CAST(:ids AS varchar[])) AS asked(id)"
               " CROSS JOIN LATERAL (SELECT event_id FROM inbox WHERE inbox.event_id = asked.id LIMIT 1) AS found")


# Records a lane is given at least: a shorter run's cost is mostly its transaction (the inbox check, the commit), and a
# read of a few records (an Alertmanager's webhook of 5) split in lanes would pay it once per lane for nothing.
LANE_RUN = 20


class InboxClash(Exception):
    """Another consumer recorded some of these events in the inbox first (owners overlapping in a
    rebalance): this transaction rolled back, and reading the inbox again tells which."""


# Clashes in a row on one partition's records before giving up: each one means another member
# committed some of them, so the next read finds fewer to apply; this many means something else.
MAX_CLASHES = 10


@dataclass
class Delivery:
    record: ConsumerRecord
    event: CloudEvent | None = None
    data: EventData | None = None
    unreadable: str | None = None  # why it could not be parsed, if it could not

    @classmethod
    def read(cls, record: ConsumerRecord, wanted: Container[str] | None = None) -> Delivery:
        """The record's event and data; an event of a type not `wanted` (None: any) is not read further."""
        try:
            raw = orjson.loads(record.value)
            if wanted is not None and isinstance(raw, dict) and raw.get("type") not in wanted:
                return cls(record)  # nobody here handles its type: not ours to read, nor to judge
            event = CloudEvent.model_validate(raw)
            return cls(record, event, parse_data(event))
        except UnknownEventType:
            return cls(record, None, None)  # not a contract we know; not ours to judge
        except (ValidationError, ValueError, TypeError) as exc:
            return cls(record, unreadable=f"malformed event: {exc}"[:2000])


class _Membership(ConsumerRebalanceListener):
    """Keeps the member's current partitions, and says in the log whenever the group moves them."""

    def __init__(self, owner: EventConsumer):
        self.owner = owner

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass  # nothing to hand over: the inbox makes the next owner's redelivery a no-op

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.owner.assigned = frozenset(assigned)
        self.owner.assignments += 1
        CONSUMER_ASSIGNMENTS.labels(self.owner.group_id).inc()
        log.info("partitions assigned: %s", ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(assigned)),
                 extra={"consumer_group": self.owner.group_id, "group_instance_id": self.owner.group_instance_id})


class EventConsumer:
    def __init__(
        self,
        *,
        name: str,
        topics: list[str],
        handlers: Mapping[str, Handler | Batched],
        bootstrap: str,
        sessions: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        batch_size: int = 500,
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
        startup_timeout: float = 60,
        after_commit: Callable[[], None] | None = None,
        group_instance_id: str | None = None,
        session_timeout: float = 6.0,
        max_poll_interval: float = 300.0,
        linger: float = 0.0,
        commit_interval: float = 0.0,
        lanes: int = 1,
        interest: Interest | None = None,  # None: every type it has a handler for
        security: KafkaSecurity = PLAINTEXT,
    ):
        self.group_id = name
        self.group_instance_id = group_instance_id
        self.session_timeout = session_timeout
        self.max_poll_interval = max_poll_interval
        self.linger = linger
        self.commit_interval = commit_interval
        self.lanes = lanes
        self.interest = interest
        self.security = security
        self.topics = topics
        self.handlers = handlers
        self.bootstrap = bootstrap
        self.sessions = sessions
        self.producer = producer
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.startup_timeout = startup_timeout
        self.after_commit = after_commit
        self.committed_listeners: list[Callable[[], None]] = []  # also told after each commit (e.g. a scheduler)
        self.assigned: frozenset[TopicPartition] = frozenset()  # this member's partitions, as the group last said
        self.assignments = 0  # how often the group said so
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and return from run()."""
        self._stopping.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.security.client_options(),
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,  # offsets only after the effects are committed
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            # Static membership: the broker keeps this member's partitions for it while it restarts
            # (up to the session timeout) and gives them straight back when it rejoins by its name.
            group_instance_id=self.group_instance_id,
            session_timeout_ms=int(self.session_timeout * 1000),
            heartbeat_interval_ms=int(min(1.0, self.session_timeout / 3) * 1000),
            max_poll_interval_ms=int(self.max_poll_interval * 1000),
        )
        consumer.subscribe(self.topics, listener=_Membership(self))  # before start, which waits for the topics
        await start_with_retry(consumer, self.group_id, self.startup_timeout)
        loop = asyncio.get_running_loop()
        uncommitted, commit_at = False, 0.0  # applied events whose offsets are not committed yet; when they may be
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self.batch_size)
                if batches:
                    if self.linger:
                        await self._read_more(consumer, batches)
                    try:
                        await self._apply_read(batches)
                    except Exception as exc:
                        if not is_outage(exc):
                            raise
                        log.warning("outage while consuming (%s); re-reading from the last commit", exc)
                        await asyncio.sleep(1)
                        await self._rewind(consumer, batches)
                        continue
                    uncommitted = True
                    assigned = consumer.assignment()  # a rebalance may have taken some meanwhile
                    for tp, records in batches.items():
                        if tp in assigned:
                            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                                max((consumer.highwater(tp) or 0) - records[-1].offset - 1, 0)
                            )
                if uncommitted and loop.time() >= commit_at:
                    await self._commit(consumer)
                    uncommitted, commit_at = False, loop.time() + self.commit_interval
            if uncommitted:  # a deliberate stop: what was applied is committed (after a crash, the inbox skips it)
                await self._commit(consumer)
        finally:
            await consumer.stop()
            if self._stopping.is_set() and self.group_instance_id is not None:
                await self._leave()

    async def _apply_read(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Apply what one read brought, from every partition in one go, each partition's records in their order (no
        order holds between partitions).

        In one lane by default, and for a read too short to share (LANE_RUN): a run's cost is per transaction, and a
        transaction per partition made a service reading three topics of three partitions pay it up to nine times a
        read. More lanes are for a service whose events wait on it (incidents: alerts). One transaction alternates
        between Python and the database; a second beside it keeps both busy. Records go to lanes by their key (an
        aggregate's, or for alerts under storm control a group's), so each aggregate's events stay in order in one
        lane. The lanes run side by side, as replicas holding different partitions would, and rows are locked in id
        order, so they cannot deadlock."""
        records = [r for _, listed in sorted(batches.items()) for r in listed]
        if self.lanes == 1 or len(records) < LANE_RUN * self.lanes:
            await self.handle(records)
            return
        lanes: dict[int, list[ConsumerRecord]] = {}
        for r in records:
            lanes.setdefault(zlib.crc32(r.key) % self.lanes if r.key else r.partition % self.lanes, []).append(r)
        outcomes = await asyncio.gather(*(self.handle(listed) for listed in lanes.values()), return_exceptions=True)
        # Raised once every lane is done, none left running into the next read: a bug before an outage (which only
        # re-reads what the lanes applied, and the inbox skips that).
        for failure in sorted((o for o in outcomes if isinstance(o, BaseException)), key=is_outage):
            raise failure

    async def _read_more(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Add what arrives within the linger to a read that is short of a batch (each partition's in its order)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.linger
        count = sum(map(len, batches.values()))
        while count < self.batch_size and not self._stopping.is_set() and (left := deadline - loop.time()) > 0:
            more = await consumer.getmany(timeout_ms=max(1, round(left * 1000)), max_records=self.batch_size - count)
            for tp, records in more.items():
                batches.setdefault(tp, []).extend(records)
                count += len(records)

    async def _leave(self) -> None:
        """On a deliberate stop, a static member leaves its group (aiokafka's does not), so that its partitions
        go to the others now. A replica that crashes stays a member: restarted, it takes them straight back."""
        try:
            await asyncio.wait_for(leave_group(self.bootstrap, self.group_id, self.group_instance_id, self.security), 5)
        except Exception as exc:  # the group then drops it after the session timeout
            log.warning("could not leave the consumer group: %r", exc, extra={"consumer_group": self.group_id})

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the offsets of the batch just applied, unless the group rebalanced meanwhile.

        Then the broker refuses the commit (or the partitions are gone): whoever owns them now
        reads the batch again from the last commit, and the inbox makes that a no-op."""
        try:
            await consumer.commit()
        except (CommitFailedError, IllegalStateError) as exc:
            CONSUMER_OVERLAPS.labels("commit_refused").inc()
            log.warning("offsets not committed, the group rebalanced (%s); the batch's next reader skips it", exc,
                        extra={"consumer_group": self.group_id})

    async def _rewind(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assigned = consumer.assignment()
        for tp, records in batches.items():
            if tp in assigned:  # one a rebalance took away is read by its new owner from the last commit
                consumer.seek(tp, records[0].offset)

    async def handle(self, records: list[ConsumerRecord]) -> None:
        """Apply records in order (each partition's in its order): runs of them per transaction."""
        pending: list[Delivery] = []
        ignored: Counter[str] = Counter()  # events of types nobody here handles, per topic
        wanted = self.handlers if self.interest is None else self.handlers.keys() & set(await self.interest())
        for d in (Delivery.read(r, wanted) for r in records):
            if d.unreadable or (d.event and d.event.type in wanted):
                pending.append(d)
            else:
                ignored[d.record.topic] += 1
        for topic, count in ignored.items():
            EVENTS_CONSUMED.labels(topic, "ignored").inc(count)
        clashes = 0
        while pending:
            try:
                applied = await self._apply_run(pending, isolate=False)
                if applied is None:  # one of them failed: find it, one savepoint per event
                    applied = await self._apply_run(pending, isolate=True)
            except InboxClash as clash:
                clashes += 1
                if clashes > MAX_CLASHES:
                    raise RuntimeError(f"inbox clashes {clashes} times in a row on the same records") from clash
                CONSUMER_OVERLAPS.labels("inbox_clash").inc()
                log.info("another consumer recorded some of these events first; reading the inbox again",
                         extra={"consumer_group": self.group_id})
                continue
            pending = pending[applied:]
            if pending:  # the first one failed on its own: retry it alone, then move on
                await self._retry_or_dead_letter(pending.pop(0))
        if self.after_commit is not None:
            self.after_commit()
        for listener in self.committed_listeners:
            listener()

    async def _apply_run(self, deliveries: list[Delivery], *, isolate: bool) -> int | None:
        """Apply deliveries in order in one transaction; returns how many were applied.

        Optimistic (isolate=False): no savepoints, and None if any handler failed (nothing
        is kept). Isolating: each event in its own savepoint, stopping at the first that
        fails or cannot be read, and committing those before it.
        """
        outcomes: list[str] = []
        inbox_rows: list[dict] = []
        try:
            async with self.sessions() as session, session.begin():
                seen = await self._already_handled(session, deliveries)
                run: list[Delivery] = []  # consecutive events for one batch handler
                for d in deliveries:
                    if d.unreadable:
                        break
                    if d.event.id in seen:
                        outcomes.append("duplicate")
                        continue
                    seen.add(d.event.id)
                    inbox_rows.append(self._inbox_row(d, "handled"))
                    outcomes.append("handled")
                    if not isolate and isinstance(self.handlers[d.event.type], Batched):
                        if run and self.handlers[run[0].event.type] is not self.handlers[d.event.type]:
                            await self._run_batch(session, run)
                            run = []
                        run.append(d)
                        continue
                    if run:
                        await self._run_batch(session, run)
                        run = []
                    try:
                        if isolate:
                            async with session.begin_nested():
                                await self._run_handler(session, d)
                        else:
                            await self._run_handler(session, d)
                    except Exception as exc:
                        if is_outage(exc) or not isolate:
                            raise
                        log.warning("handler failed for %s: %s", d.event.type, exc, extra={"event_id": d.event.id})
                        inbox_rows.pop()
                        outcomes.pop()
                        break
                if run:
                    await self._run_batch(session, run)
                try:
                    await insert_rows(session, inbox, inbox_rows)
                except IntegrityError as exc:  # only the event id is unique there
                    raise InboxClash(str(exc.orig)) from exc
        except Exception as exc:
            if is_outage(exc) or isolate or isinstance(exc, InboxClash):
                raise
            return None
        for d, outcome in zip(deliveries, outcomes, strict=False):  # those after a failure have none
            EVENTS_CONSUMED.labels(d.record.topic, outcome).inc()
        return len(outcomes)

    async def _already_handled(self, session: AsyncSession, deliveries: list[Delivery]) -> set[str]:
        ids = [d.event.id for d in deliveries if d.event]
        if not ids:
            return set()
        return set((await session.scalars(HANDLED, {"ids": ids})).all())

    async def _run_handler(self, session: AsyncSession, d: Delivery) -> None:
        context.correlation_id.set(d.event.correlationid or d.event.id)
        context.causation_id.set(d.event.id)
        handler = self.handlers[d.event.type]
        await (handler.one if isinstance(handler, Batched) else handler)(session, d.event, d.data)

    async def _run_batch(self, session: AsyncSession, run: list[Delivery]) -> None:
        if len(run) == 1:
            await self._run_handler(session, run[0])
            return
        await self.handlers[run[0].event.type].many(session, [(d.event, d.data) for d in run])

    @staticmethod
    def _inbox_row(d: Delivery, outcome: str, error: str | None = None) -> dict:
        r = d.record
        return {"event_id": d.event.id, "topic": r.topic, "partition": r.partition, "offset": r.offset,
                "outcome": outcome, "error": error}

    async def _retry_or_dead_letter(self, d: Delivery) -> None:
        error = d.unreadable
        if error is None:
            for attempt in range(2, self.max_attempts + 1):
                await asyncio.sleep(self.retry_backoff * attempt)
                try:
                    async with self.sessions() as session, session.begin():
                        if await self._already_handled(session, [d]):
                            return
                        await self._run_handler(session, d)
                        await session.execute(insert(inbox).values(self._inbox_row(d, "handled")))
                    EVENTS_CONSUMED.labels(d.record.topic, "handled").inc()
                    return
                except Exception as exc:
                    if is_outage(exc):
                        raise
                    error = f"{type(exc).__name__}: {exc}"[:2000]
            if await self._handled_elsewhere(d):  # the last attempt clashed with another owner's
                return
        await self._dead_letter(d, error)

    async def _handled_elsewhere(self, d: Delivery) -> bool:
        async with self.sessions() as session:
            return bool(await self._already_handled(session, [d]))

    async def _dead_letter(self, d: Delivery, error: str) -> None:
        r = d.record
        headers = [
            ("error", error.encode()),
            ("source-topic", r.topic.encode()),
            ("source-partition", str(r.partition).encode()),
            ("source-offset", str(r.offset).encode()),
            ("consumer-group", self.group_id.encode()),
        ]
        await self.producer.send_and_wait(dead_letter(r.topic), r.value, key=r.key, headers=headers)
        if d.event is not None:
            async with self.sessions() as session, session.begin():
                # Another owner in a rebalance may have recorded it meanwhile: what it recorded stands.
                await session.execute(pg_insert(inbox).values(self._inbox_row(d, "dead_lettered", error))
                                      .on_conflict_do_nothing(index_elements=["event_id"]))
        EVENTS_CONSUMED.labels(r.topic, "dead_lettered").inc()
        log.error("event dead-lettered: %s", error, extra={"topic": r.topic, "offset": r.offset})
