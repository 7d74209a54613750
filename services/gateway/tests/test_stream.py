"""Live updates without Kafka: positions, filters, what a role sees, and how a resumed stream joins the live one."""

from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace

import orjson
import pytest

from itsm_contracts import envelope, topics
from itsm_contracts.events.incidents import IncidentCommented, IncidentOpened, IncidentUpdated, IncidentWorkNoteAdded
from itsm_kit.clock import utcnow
from itsm_gateway import stream
from itsm_gateway.stream import (
    BadPosition, Callers, Change, Client, Feed, Filter, Gone, decode_position, encode_position, visibility,
)

SETTINGS = SimpleNamespace(stream_replay_concurrency=2, stream_max_clients=3, stream_max_per_user=2,
                           stream_queue_size=4, stream_replay_max_events=1000)


def test_a_position_survives_its_id_and_stays_short():
    position = {(topics.INCIDENTS, p): 10**p for p in range(3)} | {(topics.SLA, 2): 2**40, (topics.CHANGES, 0): 0}
    text = encode_position(position)
    assert decode_position(text) == position
    assert len(encode_position({(t, p): 10**9 for t in stream.TOPIC_CODES for p in range(3)})) < 120
    assert decode_position(encode_position({})) == {}


@pytest.mark.parametrize("text", [
    "", "x" * 2000, "not base64!", base64.urlsafe_b64encode(b"\x02\x00\x00\x00").decode(),  # unknown version
    base64.urlsafe_b64encode(b"\x01\x09\x00\x05").decode(),  # unknown topic code
    base64.urlsafe_b64encode(b"\x01\x00\x00").decode(),  # a partition without its offset
    base64.urlsafe_b64encode(b"\x01\x00\x00\x80").decode(),  # a number cut short
    base64.urlsafe_b64encode(b"\x01\x00\x00\x01\x00\x00\x02").decode(),  # one partition twice
    base64.urlsafe_b64encode(b"\x01\x00\x00" + b"\xff" * 12 + b"\x01").decode(),  # beyond any offset
])
def test_an_id_this_stream_did_not_send_is_refused(text):
    with pytest.raises(BadPosition):
        decode_position(text)


def change(data, *, topic=topics.INCIDENTS, partition=0, offset=0, subject=None) -> Change:
    subject = subject or getattr(data, "incident_id", None) or "r1"
    event = envelope(data, source="itsm/test", subject=subject, sequence=1)
    return Change.of(topic, partition, offset, event.to_json())


def opened(incident_id="inc1", caller="ann", offset=0, partition=0) -> Change:
    return change(IncidentOpened(incident_id=incident_id, number="INC1", short_description="x", state="new",
                                 impact=3, urgency=3, priority=4, origin="manual", opened_at=utcnow(), caller=caller),
                  offset=offset, partition=partition)


def commented(incident_id="inc1", offset=1, partition=0) -> Change:
    return change(IncidentCommented(incident_id=incident_id, text="hi", commented_at=utcnow()),
                  offset=offset, partition=partition)


def work_note(incident_id="inc1", offset=2) -> Change:
    return change(IncidentWorkNoteAdded(incident_id=incident_id, text="internal", added_at=utcnow()), offset=offset)


def other(topic, record_id="r9", incident_id=None, offset=0) -> Change:
    data = {"incident_id": incident_id} if incident_id else {}
    raw = orjson.dumps({"source": "itsm/x", "type": "itsm.x.happened", "subject": record_id, "dataschema": "x",
                        "data": data})
    return Change.of(topic, 0, offset, raw)


def test_the_payload_is_the_cloud_events_type_subject_time_and_data():
    payload = orjson.loads(commented().payload)
    assert payload["type"] == "itsm.incident.commented" and payload["subject"] == "inc1"
    assert payload["record_type"] == "incident" and payload["data"]["text"] == "hi" and payload["time"]


def test_agents_see_everything_requesters_only_caller_visible_incident_events():
    for c in (opened(), commented(), work_note(), other(topics.PROBLEMS), other(topics.SLA, incident_id="inc1")):
        assert visibility(c, works=True) == "shown"
    assert visibility(opened(), works=False) == visibility(commented(), works=False) == "if_caller"
    for c in (work_note(), other(topics.PROBLEMS), other(topics.CHANGES), other(topics.SLA, incident_id="inc1")):
        assert visibility(c, works=False) == "hidden"


def test_filters_by_record_type_and_id():
    sla = other(topics.SLA, record_id="timer1", incident_id="inc1")
    assert Filter().admits(sla) and Filter().topics() == set(stream.TOPIC_CODES)
    assert Filter(frozenset({"incident"})).admits(commented()) and not Filter(frozenset({"incident"})).admits(sla)
    assert Filter(frozenset({"incident"})).topics() == {topics.INCIDENTS}
    assert Filter(ids=frozenset({"inc1"})).admits(sla)  # a timer of the incident watched
    assert Filter(ids=frozenset({"timer1"})).admits(sla)
    assert not Filter(ids=frozenset({"inc2"})).admits(commented())


async def test_callers_are_learned_from_events_and_otherwise_asked_once():
    asked = []

    async def lookup(incident_id):
        asked.append(incident_id)
        await asyncio.sleep(0.01)
        return "bob"

    callers = Callers(lookup, size=10)
    callers.learn(opened(caller="ann"))
    assert await callers.caller_of("inc1") == "ann" and asked == []
    callers.learn(change(IncidentUpdated(incident_id="inc1", changes={"caller": "carl"}, updated_at=utcnow())))
    assert await callers.caller_of("inc1") == "carl"
    assert await asyncio.gather(*(callers.caller_of("inc2") for _ in range(5))) == ["bob"] * 5
    assert asked == ["inc2"]


async def test_a_failed_lookup_is_no_answer():
    async def lookup(incident_id):
        raise RuntimeError("incidents down")

    with pytest.raises(stream.LookupFailed):
        await Callers(lookup, size=10).caller_of("inc1")


async def test_a_requester_is_shown_their_own_incidents_only():
    async def lookup(incident_id):
        return {"inc1": "ann"}.get(incident_id)

    callers = Callers(lookup, size=10)
    ann = Client("ann", works=False, filter=Filter(), callers=callers)
    assert await ann.event(commented("inc1", offset=1)) is not None
    assert await ann.event(commented("inc2", offset=2)) is None
    assert await ann.event(work_note("inc1", offset=3)) is None
    assert ann.position == {(topics.INCIDENTS, 0): 4}  # moved past what it was not shown


async def test_a_client_skips_what_lies_below_its_position():
    agent = Client("a", works=True, filter=Filter(), callers=None, position={(topics.INCIDENTS, 0): 5})
    assert await agent.event(commented(offset=4)) is None
    event = await agent.event(commented(offset=5))
    assert decode_position(event.id) == {(topics.INCIDENTS, 0): 6}


def test_streams_are_bounded_per_process_and_per_user():
    feed = Feed(SETTINGS)
    with pytest.raises(stream.Busy) as starting:
        feed.subscribe("u1")
    assert starting.value.status == 503
    feed.ready = True
    a, _ = feed.subscribe("u1"), feed.subscribe("u1")
    with pytest.raises(stream.Busy) as per_user:
        feed.subscribe("u1")
    assert per_user.value.status == 429
    feed.subscribe("u2")
    with pytest.raises(stream.Busy) as full:
        feed.subscribe("u3")
    assert full.value.status == 503
    feed.unsubscribe(a)
    feed.unsubscribe(a)  # twice: counted once
    feed.subscribe("u1")


def test_a_slow_client_is_closed_not_skipped():
    feed = Feed(SETTINGS)
    feed.ready = True
    sub = feed.subscribe("u1")
    for offset in range(6):
        feed.dispatch(topics.INCIDENTS, 0, offset, envelope_of(offset))
    assert sub.closed and sub.queue.qsize() == SETTINGS.stream_queue_size
    assert feed.position == {(topics.INCIDENTS, 0): 6}


def envelope_of(offset: int) -> bytes:
    return envelope(IncidentCommented(incident_id="inc1", text=str(offset), commented_at=utcnow()),
                    source="itsm/test", subject="inc1", sequence=offset + 1).to_json()


class ReplayingFeed(Feed):
    """A feed whose Kafka is a list of records of partition 0 of the incidents topic."""

    def __init__(self, log: list[bytes]):
        super().__init__(SETTINGS)
        self.log, self.ready = log, True

    async def replay(self, since, until):
        start, end = since.get((topics.INCIDENTS, 0), 0), until.get((topics.INCIDENTS, 0), 0)
        if start < 2:
            raise Gone("past retention")
        for offset in range(start, end):
            yield Change.of(topics.INCIDENTS, 0, offset, self.log[offset])


async def read(events, count: int) -> list:
    got = []
    async for event in events:
        got.append(event)
        if len(got) == count:
            break
    await events.aclose()  # as the SSE response does when the client goes
    return got


async def test_a_resumed_stream_replays_what_was_missed_then_joins_the_live_feed_once():
    log = [envelope_of(offset) for offset in range(12)]
    feed = ReplayingFeed(log)
    feed.position = {(topics.INCIDENTS, 0): 8}  # the live feed stands at 8 when the client comes back
    sub = feed.subscribe("agent")
    # Live records the feed handed on while the replay ran: 8.. (and the client's queue takes them all).
    for offset in range(8, 10):
        feed.dispatch(topics.INCIDENTS, 0, offset, log[offset])
    client = Client("agent", works=True, filter=Filter(), callers=None)
    got = await read(stream.events(feed, sub, client, {(topics.INCIDENTS, 0): 5}, heartbeat=5), 6)
    texts = [orjson.loads(e.data)["data"]["text"] for e in got if e.data]
    assert texts == ["5", "6", "7", "8", "9"]  # 5..7 replayed, 8..9 live: none lost, none twice
    assert decode_position(got[-1].id) == {(topics.INCIDENTS, 0): 10}
    assert feed.subscriptions == set()  # closing the stream gave its place back


async def test_a_position_past_retention_is_a_reset_then_live():
    feed = ReplayingFeed([envelope_of(offset) for offset in range(10)])
    feed.position = {(topics.INCIDENTS, 0): 8}
    sub = feed.subscribe("agent")
    client = Client("agent", works=True, filter=Filter(), callers=None)
    reset = (await read(stream.events(feed, sub, client, {(topics.INCIDENTS, 0): 1}, heartbeat=5), 1))[0]
    assert reset.event == "reset" and decode_position(reset.id) == {(topics.INCIDENTS, 0): 8}


async def test_a_quiet_stream_sends_its_position_past_what_it_was_not_shown():
    feed = ReplayingFeed([])
    feed.position = {(topics.INCIDENTS, 0): 0}
    sub = feed.subscribe("agent")
    client = Client("agent", works=True, filter=Filter(ids=frozenset({"other"})), callers=None)
    events = stream.events(feed, sub, client, None, heartbeat=0.05)
    first = await anext(events)
    assert first.comment == "live" and decode_position(first.id) == {(topics.INCIDENTS, 0): 0}
    feed.dispatch(topics.INCIDENTS, 0, 0, envelope_of(0))
    checkpoint = await anext(events)
    assert checkpoint.data is None and decode_position(checkpoint.id) == {(topics.INCIDENTS, 0): 1}
    sub.close("this gateway is shutting down")
    last = await anext(events)
    assert last.event == "reconnect" and decode_position(last.id) == {(topics.INCIDENTS, 0): 1}
    await events.aclose()


async def test_a_failing_feed_is_logged_and_restarted_not_left_dead(caplog):
    attempts = []

    def consumer():
        attempts.append(1)
        raise RuntimeError("broker gone")

    feed = Feed(SETTINGS, consumer_factory=consumer)
    task = asyncio.create_task(feed.run())
    await asyncio.sleep(1.8)  # backoff 0.5 s, then 1 s
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(attempts) >= 2
    assert "the live feed failed; restarting" in caplog.text


async def test_a_request_the_kafka_client_cancels_is_a_failure_not_the_end_of_the_reader():
    """aiokafka cancels the futures of a connection it lost (seen in a broker restart): the reader goes on."""
    from aiokafka.errors import KafkaConnectionError

    lost = asyncio.get_running_loop().create_future()

    async def request():
        return await lost

    pending = asyncio.create_task(stream.bounded(request()))
    await asyncio.sleep(0.01)
    lost.cancel()
    with pytest.raises(KafkaConnectionError):
        await pending
    with pytest.raises(TimeoutError):
        await stream.bounded(asyncio.sleep(1), timeout=0.01)


def test_records_nobody_streams_reach_the_listeners_without_the_clients_work(monkeypatch):
    """With no client streaming, the feed's listeners (the screens' cache) and the callers' cache still learn of each
    record, but no record is checked against the envelope or serialised for clients: that was a quarter of the
    gateway's CPU in an alert storm."""
    feed, heard = Feed(SETTINGS), []
    feed.callers = Callers(lambda incident_id: None, size=10)
    feed.listeners.append(heard.append)
    checked = CloudEventChecks(monkeypatch)
    timer = orjson.dumps({"source": "itsm/sla", "type": "itsm.sla.timer_started", "subject": "timer-1",
                          "dataschema": "x", "data": {"incident_id": "inc7", "kind": "response"}})

    feed.dispatch(topics.SLA, 1, 40, timer)
    feed.dispatch(topics.INCIDENTS, 0, 3, envelope(
        IncidentOpened(incident_id="inc8", number="INC8", short_description="x", state="new", impact=3, urgency=3,
                       priority=4, origin="manual", opened_at=utcnow(), caller="bo"),
        source="itsm/test", subject="inc8", sequence=1).to_json())
    feed.dispatch(topics.INCIDENTS, 0, 4, b'["not", "an", "event"]')
    feed.dispatch(topics.INCIDENTS, 0, 5, orjson.dumps({"type": "itsm.x", "subject": "inc9", "data": "text"}))

    assert [(c.record_type, c.record_id, c.incident_id, c.type) for c in heard] == [
        ("sla_timer", "timer-1", "inc7", "itsm.sla.timer_started"),
        ("incident", "inc8", "inc8", IncidentOpened.type)]
    assert feed.callers._known["inc8"] == "bo"
    assert feed.position == {(topics.SLA, 1): 41, (topics.INCIDENTS, 0): 6}  # the unreadable ones passed over
    assert checked.calls == 0

    feed.ready = True
    sub = feed.subscribe("agent")
    feed.dispatch(topics.SLA, 1, 41, timer)
    assert checked.calls == 1 and orjson.loads(sub.queue.get_nowait().payload)["subject"] == "timer-1"


class CloudEventChecks:
    """Counts the envelope checks the feed makes."""

    def __init__(self, monkeypatch):
        self.calls, checked = 0, stream.CloudEvent.from_json

        def counted(raw):
            self.calls += 1
            return checked(raw)

        monkeypatch.setattr(stream.CloudEvent, "from_json", counted)
