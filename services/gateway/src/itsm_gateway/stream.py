"""Live updates: one Kafka reader per gateway process fans the domain events out to its clients' streams.

- Position: where a stream stands is a vector (topic, partition) -> next offset, per client. Every event a client
  gets carries it as its SSE id (`encode_position`: a few bytes, base64url), so a client that reconnects with
  `Last-Event-ID` is replayed from exactly there (a catch-up reader of its own) up to where the live feed stood when
  it subscribed, then joins the live feed: records below the client's position are dropped, nothing is skipped.
  Kafka keeps one aggregate's events in one partition and in order, so per partition "next offset" is exact.
- Retention: a position Kafka no longer holds (older than the topic's retention), one of another incarnation of the
  topic (beyond its end), or more than `stream_replay_max_events` behind gets a `reset` event: refetch, then live.
- Slow clients: each has a bounded queue; one that falls that far behind is sent `reconnect` (with its last id)
  and closed, never silently skipped. The same on shutdown and when a needed lookup fails.
- Roles: agents and above see everything streamed; a requester only the events of incidents whose caller they are,
  never a work note, problem, change or SLA timer (`visibility`).

The pure parts (positions, filters, visibility) do no I/O, so unit tests reach them directly.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import orjson
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, OffsetOutOfRangeError
from cachetools import TTLCache
from sse_starlette import ServerSentEvent

from itsm_contracts import CloudEvent, topics
from itsm_contracts.events.incidents import IncidentOpened, IncidentUpdated, IncidentWorkNoteAdded
from itsm_kit.errors import Problem
from itsm_kit.runtime import Runtime

log = logging.getLogger(__name__)

# The streamed topics and their codes inside positions. Codes are in ids clients hold: never renumber one.
TOPIC_CODES = {topics.INCIDENTS: 0, topics.PROBLEMS: 1, topics.CHANGES: 2, topics.SLA: 3}
TOPICS_BY_CODE = {code: topic for topic, code in TOPIC_CODES.items()}
RecordType = Literal["incident", "problem", "change", "sla_timer"]
RECORD_TYPES: dict[str, RecordType] = {topics.INCIDENTS: "incident", topics.PROBLEMS: "problem",
                                       topics.CHANGES: "change", topics.SLA: "sla_timer"}
MAX_ID_CHARS = 1024  # a Last-Event-ID longer than any we hand out is refused, not decoded
MAX_ENTRIES = 256
MAX_PARTITION = 10_000
MAX_OFFSET = 2**63 - 1
_VERSION = 1
OFFSETS_TIMEOUT = 20.0  # seconds a metadata or offsets request to Kafka may take
INTERNAL_TYPES = frozenset({IncidentWorkNoteAdded.type})  # for the desk only

T = TypeVar("T")
Position = dict[tuple[str, int], int]  # (topic, partition) -> the next offset to deliver


class BadPosition(ValueError):
    """A Last-Event-ID this API did not hand out."""


# --- positions ---------------------------------------------------------------------------------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_position(position: Position) -> str:
    """A version byte, then (topic code, partition, offset) varints per partition; base64url without padding."""
    raw = bytearray([_VERSION])
    for (topic, partition), offset in sorted(position.items(), key=lambda item: (TOPIC_CODES[item[0][0]],
                                                                               item[0][1])):
        raw += _varint(TOPIC_CODES[topic]) + _varint(partition) + _varint(offset)
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def decode_position(text: str) -> Position:
    if not text or len(text) > MAX_ID_CHARS:
        raise BadPosition(f"Last-Event-ID must be 1 to {MAX_ID_CHARS} characters, an id this stream sent")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadPosition("Last-Event-ID is not an id this stream sent (not base64url)") from exc
    if not raw or raw[0] != _VERSION:
        raise BadPosition("Last-Event-ID is not an id this stream sent (unknown version)")
    numbers, value, shift = [], 0, 0
    for byte in raw[1:]:
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 63:
            raise BadPosition("Last-Event-ID is not an id this stream sent (number too long)")
        if not byte & 0x80:
            numbers.append(value)
            value, shift = 0, 0
    if shift or len(numbers) % 3 or len(numbers) // 3 > MAX_ENTRIES:
        raise BadPosition("Last-Event-ID is not an id this stream sent (truncated or too long)")
    position: Position = {}
    for code, partition, offset in zip(numbers[0::3], numbers[1::3], numbers[2::3], strict=True):
        if code not in TOPICS_BY_CODE or partition > MAX_PARTITION or offset > MAX_OFFSET:
            raise BadPosition("Last-Event-ID is not an id this stream sent (unknown topic or partition)")
        key = (TOPICS_BY_CODE[code], partition)
        if key in position:
            raise BadPosition("Last-Event-ID is not an id this stream sent (a partition twice)")
        position[key] = offset
    return position


# --- what travels: one parsed record, shared by every client -------------------------------------

@dataclass(frozen=True, slots=True)
class Change:
    topic: str
    partition: int
    offset: int
    type: str  # the CloudEvent type, e.g. itsm.incident.commented
    record_type: RecordType
    record_id: str  # the CloudEvent subject: the aggregate's id
    incident_id: str | None  # the incident it concerns (incident and SLA timer events)
    data: dict[str, Any]
    payload: str  # the SSE data, serialised once for all clients ("" if read while no client was streaming)

    @classmethod
    def of(cls, topic: str, partition: int, offset: int, value: bytes) -> Change:
        """A record for clients: checked against the envelope, its SSE data serialised."""
        event = CloudEvent.from_json(value)
        record_type = RECORD_TYPES[topic]
        payload = orjson.dumps({"type": event.type, "record_type": record_type, "subject": event.subject,
                                "time": event.time, "sequence": event.sequence, "data": event.data}).decode()
        return cls(topic, partition, offset, event.type, record_type, event.subject,
                   _incident_of(topic, event.data), event.data, payload)

    @classmethod
    def unstreamed(cls, topic: str, partition: int, offset: int, value: bytes) -> Change:
        """A record no client is streaming: what the feed's listeners and the callers' cache read of it (type,
        subject, data), without the envelope's checks or the clients' serialisation. Measured in an alert storm with
        nobody streaming: a quarter of the gateway's CPU went on reading records for the stream."""
        raw = orjson.loads(value)
        if not isinstance(raw, dict):
            raise ValueError("not a CloudEvent: not an object")
        kind, subject, data = raw.get("type"), raw.get("subject"), raw.get("data")
        if not (isinstance(kind, str) and isinstance(subject, str) and isinstance(data, dict)):
            raise ValueError("not a CloudEvent: no type, subject or data")
        return cls(topic, partition, offset, kind, RECORD_TYPES[topic], subject, _incident_of(topic, data), data, "")


def _incident_of(topic: str, data: dict[str, Any]) -> str | None:
    incident_id = data.get("incident_id") if topic in (topics.INCIDENTS, topics.SLA) else None
    return incident_id if isinstance(incident_id, str) else None


@dataclass(frozen=True)
class Filter:
    """What a client asked for: record types and record ids (None: all). An id names the record itself, or for SLA
    timers also the incident they run for."""

    record_types: frozenset[str] | None = None
    ids: frozenset[str] | None = None

    def topics(self) -> set[str]:
        return {t for t, kind in RECORD_TYPES.items() if self.record_types is None or kind in self.record_types}

    def admits(self, change: Change) -> bool:
        if self.record_types is not None and change.record_type not in self.record_types:
            return False
        return self.ids is None or change.record_id in self.ids or change.incident_id in self.ids


Visibility = Literal["shown", "hidden", "if_caller"]


def visibility(change: Change, works: bool) -> Visibility:
    """Agents and above see every streamed event; a requester only the caller-visible events of an incident, and
    those only if they are its caller (which the caller needs looking up: `if_caller`)."""
    if works:
        return "shown"
    if change.record_type != "incident" or change.type in INTERNAL_TYPES or change.incident_id is None:
        return "hidden"
    return "if_caller"


# --- incident callers: what a requester's stream needs to know ----------------------------------

class LookupFailed(Exception):
    """The incidents service could not say who an incident's caller is (now)."""


class Callers:
    """incident id -> its caller, learned from the events the feed reads (opened, caller changed) and otherwise
    asked of the incidents service once per id (concurrent askers share the answer); bounded and expiring."""

    def __init__(self, lookup: Callable[[str], Awaitable[str | None]], *, size: int, ttl: float = 300.0):
        self._lookup = lookup
        self._known: TTLCache[str, str | None] = TTLCache(maxsize=size, ttl=ttl)
        self._asking: dict[str, asyncio.Future] = {}

    def learn(self, change: Change) -> None:
        if change.incident_id is None or change.record_type != "incident":
            return
        if change.type == IncidentOpened.type:
            self._known[change.incident_id] = change.data.get("caller")
        elif change.type == IncidentUpdated.type and "caller" in (change.data.get("changes") or {}):
            self._known[change.incident_id] = change.data["changes"]["caller"]

    async def caller_of(self, incident_id: str) -> str | None:
        with contextlib.suppress(KeyError):
            return self._known[incident_id]
        if incident_id in self._asking:
            return await asyncio.shield(self._asking[incident_id])
        future = asyncio.get_running_loop().create_future()
        self._asking[incident_id] = future
        try:
            caller = await self._lookup(incident_id)
        except Exception as exc:
            future.set_exception(LookupFailed(str(exc)))
            future.exception()  # retrieved: nobody else may be waiting
            raise LookupFailed(str(exc)) from exc
        finally:
            self._asking.pop(incident_id, None)
        self._known[incident_id] = caller
        future.set_result(caller)
        return caller


# --- subscriptions and the feed -----------------------------------------------------------------

class Gone(Exception):
    """The client's position can no longer be replayed (retention, another topic incarnation, too far behind)."""


class Busy(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(eq=False)
class Subscription:
    user: str
    start: Position  # where the live feed stood when this client joined: it gets every record from there
    queue: asyncio.Queue
    closed: str | None = None  # why the feed closed it: the client should reconnect with its last id

    def offer(self, change: Change) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.close("this stream fell too far behind")

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = reason
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)  # wakes a reader waiting on an empty queue


def live_position(feed_position: Position, wanted: Iterable[str]) -> Position:
    return {tp: offset for tp, offset in feed_position.items() if tp[0] in wanted}


def _new_consumer(settings) -> AIOKafkaConsumer:
    # No group: every gateway process reads every partition itself, and commits nothing.
    return AIOKafkaConsumer(**settings.kafka_security.client_options(), bootstrap_servers=settings.kafka_bootstrap,
                            client_id=f"{settings.service}-stream", enable_auto_commit=False,
                            auto_offset_reset="none", fetch_max_wait_ms=50)


class Feed:
    """The process's one reader of the streamed topics. It starts at their end, follows partitions and topics
    that appear later (from their start), and hands each record to every subscription in order."""

    def __init__(self, settings, *, callers: Callers | None = None,
                 consumer_factory: Callable[[], AIOKafkaConsumer] | None = None):
        self.settings = settings
        self.callers = callers
        self._consumer_factory = consumer_factory or (lambda: _new_consumer(settings))
        self.position: Position = {}
        self.ready = False
        self._started = False  # partitions met after the first assignment are read from their start
        self._missing = True  # some streamed topic does not exist yet: looked for again soon
        self._behind: Position = {}  # where the reader stood, at the last check, on partitions it had not read up
        self.subscriptions: set[Subscription] = set()
        self.listeners: list[Callable[[Change], None]] = []  # others in this process told of each record
        self._per_user: dict[str, int] = {}
        self.replays = asyncio.Semaphore(settings.stream_replay_concurrency)

    # -- clients
    def subscribe(self, user: str) -> Subscription:
        if not self.ready:
            raise Busy(503, "the live feed is starting or cannot reach Kafka: retry shortly")
        if len(self.subscriptions) >= self.settings.stream_max_clients:
            raise Busy(503, "this gateway serves as many streams as it may: retry shortly, or another replica")
        if self._per_user.get(user, 0) >= self.settings.stream_max_per_user:
            raise Busy(429, f"at most {self.settings.stream_max_per_user} streams at once per user")
        sub = Subscription(user, dict(self.position), asyncio.Queue(self.settings.stream_queue_size))
        self.subscriptions.add(sub)
        self._per_user[user] = self._per_user.get(user, 0) + 1
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscriptions:
            self.subscriptions.discard(sub)
            left = self._per_user.get(sub.user, 1) - 1
            if left:
                self._per_user[sub.user] = left
            else:
                self._per_user.pop(sub.user, None)

    def close_all(self, reason: str) -> None:
        for sub in list(self.subscriptions):
            sub.close(reason)

    # -- the reader
    def dispatch(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """One record, in partition order: to every subscription, then the feed's position moves past it."""
        try:
            read = Change.of if self.subscriptions else Change.unstreamed
            change = read(topic, partition, offset, value or b"")
        except ValueError:
            log.warning("stream: %s:%s@%s is no CloudEvent; not streamed", topic, partition, offset)
            change = None
        if change is not None:
            if self.callers is not None:
                self.callers.learn(change)
            for sub in self.subscriptions:
                sub.offer(change)
            for listener in self.listeners:
                listener(change)
        self.position[(topic, partition)] = offset + 1

    async def run(self) -> None:
        """Reads for the life of the process: a failure is logged and the reader restarted (with backoff) from the
        position it had reached, so streams go on without a gap."""
        backoff = 0.5
        while True:
            began = time.monotonic()
            try:
                await self._read()
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # the gateway stops
                log.warning("stream: the Kafka client cancelled the live feed's read; restarting")
            except OffsetOutOfRangeError:
                log.error("stream: the feed's position left Kafka's retention; streams told to reconnect")
                self.ready, self.position, self._started = False, {}, False
                self.close_all("the live feed restarted")
            except Exception:
                log.exception("stream: the live feed failed; restarting in %.1f s", backoff)
            self.ready = self.ready and bool(self.position)
            if time.monotonic() - began > 60:
                backoff = 0.5  # it had been running: a new failure, not the same one again
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def _read(self) -> None:
        consumer = self._consumer_factory()
        # The consumer knows the partitions of what it reads; this client asks the cluster which there are.
        metadata = AIOKafkaClient(**self.settings.kafka_security.client_options(),
                                  bootstrap_servers=self.settings.kafka_bootstrap)
        try:
            await bounded(consumer.start())
            await bounded(metadata.bootstrap())
            assigned: set[TopicPartition] = set()
            checked = 0.0
            while True:
                every = 1.0 if self._missing else self.settings.stream_topic_refresh_seconds
                if time.monotonic() - checked > every:
                    # aiokafka's offset and metadata requests wait out a broker outage unboundedly: a bound
                    # turns that into a failure, and the reader starts again once the broker is back.
                    assigned = await bounded(self._assign(consumer, metadata, assigned))
                    checked = time.monotonic()
                    self.ready = True
                # Bounded, as every Kafka call here: a new reader starts where this one stood.
                batch = await bounded(consumer.getmany(timeout_ms=500, max_records=2000))
                for tp, records in batch.items():
                    for record in records:
                        self.dispatch(tp.topic, tp.partition, record.offset, record.value)
        finally:
            with contextlib.suppress(Exception):
                await bounded(consumer.stop())
            with contextlib.suppress(Exception):
                await bounded(metadata.close())

    async def _assign(self, consumer: AIOKafkaConsumer, metadata: AIOKafkaClient,
                      assigned: set[TopicPartition]) -> set[TopicPartition]:
        """All partitions of the streamed topics: ones the feed knows resume where it stands, ones it meets first
        start at the end (at start-up) or at their beginning (a topic or partition created while it runs)."""
        cluster = await metadata.fetch_all_metadata()
        wanted = {TopicPartition(topic, p) for topic in TOPIC_CODES for p in cluster.partitions_for_topic(topic) or ()}
        missing = sorted(t for t in TOPIC_CODES if not cluster.partitions_for_topic(t))
        if missing and not assigned:
            log.info("stream: topics not created yet, followed once they are: %s", ", ".join(missing))
        self._missing = bool(missing)
        if wanted == assigned:
            await self._check_progress(consumer, wanted)
            return assigned
        consumer.assign(list(wanted))
        new = [tp for tp in wanted if (tp.topic, tp.partition) not in self.position]
        first, self._started = not self._started, True
        for tp in wanted - set(new):
            consumer.seek(tp, self.position[(tp.topic, tp.partition)])
        if new:
            starts = await (consumer.end_offsets(new) if first else consumer.beginning_offsets(new))
            for tp in new:
                self.position[(tp.topic, tp.partition)] = starts[tp]
                consumer.seek(tp, starts[tp])
        return wanted

    async def _check_progress(self, consumer: AIOKafkaConsumer, parts: set[TopicPartition]) -> None:
        """A reader that stands still while Kafka holds records past it (a fetch session lost in a broker restart)
        is restarted, rather than trusted to recover."""
        ends = await consumer.end_offsets(list(parts))
        behind = {(tp.topic, tp.partition): self.position.get((tp.topic, tp.partition), 0)
                  for tp, end in ends.items() if end > self.position.get((tp.topic, tp.partition), 0)}
        stalled = {tp for tp, offset in behind.items() if self._behind.get(tp) == offset}
        self._behind = behind
        if stalled:
            raise RuntimeError(f"the live feed stood still behind Kafka's end on {sorted(stalled)}")

    async def replay(self, since: Position, until: Position) -> AsyncIterator[Change]:
        """The records from `since` up to (not including) `until`, partition by partition in order; Gone if Kafka
        no longer holds them all, or they are more than the replay allows."""
        wanted = {TopicPartition(t, p): (since.get((t, p), 0), end) for (t, p), end in until.items()
                  if since.get((t, p), 0) < end}
        # A position beyond the feed is one this replica has not reached yet (another replica's id): the live
        # part drops what lies below it. Checked against Kafka's end below, so an id of a recreated topic fails.
        ahead = [TopicPartition(t, p) for (t, p), offset in since.items() if offset > until.get((t, p), offset)]
        if sum(end - start for start, end in wanted.values()) > self.settings.stream_replay_max_events:
            raise Gone("too many events since this position to replay")
        log.debug("stream: replay %s", {f"{tp.topic}:{tp.partition}": span for tp, span in wanted.items()})
        if not wanted and not ahead:
            return
        async with self.replays:
            consumer = self._consumer_factory()
            try:
                await bounded(consumer.start())
            except (KafkaError, TimeoutError) as exc:
                raise LookupFailed(f"Kafka did not answer ({type(exc).__name__})") from exc
            try:
                parts = list(wanted) + ahead
                consumer.assign(parts)
                earliest = await bounded(consumer.beginning_offsets(parts))
                latest = await bounded(consumer.end_offsets(parts))
                for tp in ahead:
                    if since[(tp.topic, tp.partition)] > latest[tp]:
                        raise Gone("this position lies beyond the end of its topic (recreated since)")
                for tp, (start, _) in wanted.items():
                    if earliest[tp] > start:
                        raise Gone("events since this position are past the topics' retention")
                    consumer.seek(tp, start)
                pending = {tp for tp in wanted}
                for tp in ahead:
                    if tp not in wanted:
                        consumer.pause(tp)
                while pending:
                    batch = await bounded(consumer.getmany(*pending, timeout_ms=500, max_records=500))
                    for tp, records in batch.items():
                        end = wanted[tp][1]
                        for record in records:
                            if record.offset >= end:
                                break
                            try:
                                yield Change.of(tp.topic, tp.partition, record.offset, record.value or b"")
                            except ValueError:
                                continue
                    for tp in list(pending):
                        if await bounded(consumer.position(tp)) >= wanted[tp][1]:
                            pending.discard(tp)
                            consumer.pause(tp)
            except OffsetOutOfRangeError as exc:
                raise Gone("events since this position are past the topics' retention") from exc
            except TimeoutError as exc:
                raise LookupFailed("Kafka did not answer in time") from exc
            finally:
                with contextlib.suppress(Exception):
                    await bounded(consumer.stop())


async def bounded(work: Awaitable[T], timeout: float = OFFSETS_TIMEOUT) -> T:
    """`work`'s result, or TimeoutError after `timeout` (without waiting for the cancelled work to wind down).
    Run as a task of its own, so that a cancellation aiokafka raises inside it cannot end the caller."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # its end, whenever, is not an error
        raise TimeoutError(f"Kafka did not answer within {timeout:g} s")
    if task.cancelled():
        # aiokafka cancels the futures of a connection it lost: that is a failed request, not a cancellation of
        # the reader (which, raised as CancelledError, would end it for good).
        raise KafkaConnectionError("the Kafka client gave up a request (connection lost)")
    return task.result()


# --- one client's stream ------------------------------------------------------------------------

@dataclass
class Client:
    """One client's view: what it asked for, who it is, and where it stands."""

    user: str
    works: bool
    filter: Filter
    callers: Callers | None
    position: Position = field(default_factory=dict)

    def ahead(self, change: Change) -> bool:
        """Records below the client's position it had already (a replay, or another replica, got it there)."""
        return change.offset >= self.position.get((change.topic, change.partition), 0)

    async def shows(self, change: Change) -> bool:
        if not self.filter.admits(change):
            return False
        seen = visibility(change, self.works)
        if seen == "if_caller":
            return self.callers is not None and await self.callers.caller_of(change.incident_id) == self.user
        return seen == "shown"

    async def event(self, change: Change) -> ServerSentEvent | None:
        """The SSE event for a record (None: not for this client); the position moves past it either way."""
        if not self.ahead(change):
            return None
        shown = await self.shows(change)  # before the move: a failed lookup leaves the record to a later stream
        self.position[(change.topic, change.partition)] = change.offset + 1
        return ServerSentEvent(change.payload, id=encode_position(self.position)) if shown else None


def control(kind: str, position: Position, detail: str) -> ServerSentEvent:
    return ServerSentEvent(orjson.dumps({"detail": detail}).decode(), event=kind, id=encode_position(position))


async def events(feed: Feed, sub: Subscription, client: Client, since: Position | None,
                 heartbeat: float) -> AsyncIterator[ServerSentEvent]:
    """What one SSE response sends: the replay since `since` (if any), then the live records, in order."""
    try:
        live = live_position(sub.start, client.filter.topics())
        if since is None:
            client.position = dict(sub.start)
        else:
            client.position = dict(since)
            try:
                async for change in feed.replay({tp: o for tp, o in since.items() if tp[0] in client.filter.topics()},
                                                live):
                    if (event := await client.event(change)) is not None:
                        yield event
                for tp, offset in sub.start.items():
                    client.position[tp] = max(client.position.get(tp, 0), offset)
            except Gone as exc:
                client.position = dict(sub.start)
                yield control("reset", client.position, f"{exc}: fetch the records again, then follow this stream")
        yield ServerSentEvent(comment="live", id=encode_position(client.position))
        sent = dict(client.position)
        while True:
            try:
                change = await asyncio.wait_for(sub.queue.get(), heartbeat)
            except TimeoutError:
                # Nothing to send: an id alone moves the client's Last-Event-ID past what it was not shown, so a
                # reconnect does not replay it (SSE: a message without data dispatches no event).
                if client.position != sent:
                    sent = dict(client.position)
                    yield ServerSentEvent(comment="position", id=encode_position(sent))
                continue
            if change is None or sub.closed:
                break
            event = await client.event(change)
            if event is not None:
                sent = dict(client.position)
                yield event
        yield control("reconnect", client.position, f"{sub.closed}: reconnect with Last-Event-ID set to this id")
    except (LookupFailed, KafkaError) as exc:
        yield control("reconnect", client.position, f"this stream cannot go on now ({type(exc).__name__}: {exc}): "
                                                    "reconnect with Last-Event-ID set to this id")
    finally:
        feed.unsubscribe(sub)


# --- lifespan -----------------------------------------------------------------------------------

FEED = "stream_feed"


@contextlib.asynccontextmanager
async def feed(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook: the process's live feed, read in the background for as long as the gateway runs."""
    from itsm_gateway.upstream import call  # the hook runs after upstream's, whose client it uses

    async def caller(incident_id: str) -> str | None:
        try:
            response = await call(runtime, "incidents", "GET", f"/incidents/{incident_id}")
        except Problem as problem:
            if problem.status == 404:
                return None
            raise
        return response.json().get("caller")

    settings = runtime.settings
    runtime.extras[FEED] = reader = Feed(settings, callers=Callers(caller, size=settings.stream_caller_cache_size))
    task = asyncio.create_task(reader.run(), name="stream-feed")
    task.add_done_callback(_report)
    try:
        yield
    finally:
        reader.close_all("this gateway is shutting down")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("stream: the live feed died", exc_info=task.exception())
