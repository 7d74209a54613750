"""Live updates through the gateway (GET /api/v1/stream) against the real services, Kafka and PostgreSQL:
changes arrive as Server-Sent Events, filtered, resumable with Last-Event-ID, and only what the role may see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from itsm_contracts import topics
from tests.helpers import eventually, token, topic_end_offsets

STREAM, INCIDENTS = "/api/v1/stream", "/api/v1/incidents"


@dataclass
class Sse:
    """One SSE message as the client parses it; `data` decoded from JSON."""

    id: str | None = None
    event: str | None = None
    data: dict | None = None
    comments: list[str] = field(default_factory=list)


class Stream:
    """An open stream: its messages, read in the background into a queue."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Sse] = asyncio.Queue()
        self.last_id: str | None = None

    async def read(self, response: httpx.Response) -> None:
        message, data = Sse(), []
        async for line in response.aiter_lines():
            if line == "":
                if data:
                    message.data = json.loads("\n".join(data))
                if message.id is not None:
                    self.last_id = message.id  # as EventSource: an id alone moves Last-Event-ID too
                if message.id is not None or message.data is not None or message.event or message.comments:
                    await self.messages.put(message)
                message, data = Sse(), []
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                message.comments.append(value)
            elif name == "id":
                message.id = value
            elif name == "event":
                message.event = value
            elif name == "data":
                data.append(value)

    async def until_live(self) -> None:
        """Wait for the stream to join the live feed; what was replayed before stays to be read."""
        replayed = []
        while "live" not in (message := await asyncio.wait_for(self.messages.get(), 30)).comments:
            replayed.append(message)
        for message in replayed + [self.messages.get_nowait() for _ in range(self.messages.qsize())]:
            self.messages.put_nowait(message)

    async def next(self, match: Callable[[Sse], bool] = lambda m: True, timeout: float = 30) -> Sse:
        async def find() -> Sse:
            while not match(message := await self.messages.get()):
                pass
            return message
        return await asyncio.wait_for(find(), timeout)

    async def events(self, until: Callable[[Sse], bool], timeout: float = 30) -> list[Sse]:
        """Every data event up to and including the first that `until` matches."""
        got: list[Sse] = []

        async def collect() -> None:
            while True:
                message = await self.messages.get()
                if message.data is not None or message.event:
                    got.append(message)
                    if until(message):
                        return
        await asyncio.wait_for(collect(), timeout)
        return got


@contextlib.asynccontextmanager
async def stream(platform, *, subject: str = "agent-1", roles: tuple[str, ...] = ("agent",), params=None,
                 last_event_id: str | None = None) -> AsyncIterator[Stream]:
    headers = {"authorization": f"Bearer {token(subject, list(roles))}", "accept": "text/event-stream"}
    if last_event_id is not None:
        headers["last-event-id"] = last_event_id
    opened = Stream()
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=httpx.Timeout(30, read=None)) as client:
        async with client.stream("GET", STREAM, params=params, headers=headers) as response:
            assert response.status_code == 200, (await response.aread()).decode()
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = asyncio.create_task(opened.read(response))
            try:
                await opened.until_live()  # subscribed: what happens from now on comes
                yield opened
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await reader


def of(incident_id: str, kind: str | None = None) -> Callable[[Sse], bool]:
    return lambda m: (m.data is not None and incident_id in (m.data["subject"], m.data["data"].get("incident_id"))
                      and (kind is None or m.data["type"] == kind))


async def open_incident(client: httpx.AsyncClient, **fields) -> str:
    response = await client.post(INCIDENTS, json={"short_description": f"stream {uuid.uuid4().hex[:8]}", **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_an_agent_sees_an_incident_change_as_it_happens(platform, gateway):
    async with stream(platform) as live:
        incident = await open_incident(gateway)
        opened = await live.next(of(incident, "itsm.incident.opened"))
        assert opened.data["record_type"] == "incident" and opened.id
        assert (await gateway.patch(f"{INCIDENTS}/{incident}", json={"description": "now broken"})).status_code == 200
        updated = await live.next(of(incident, "itsm.incident.updated"))
        assert updated.data["data"]["changes"] == {"description": "now broken"}
        assert set(updated.data) == {"type", "record_type", "subject", "time", "sequence", "data"}
        assert updated.data["sequence"] > opened.data["sequence"]


async def test_a_stream_filtered_by_type_and_id_gets_only_those(platform, gateway):
    watched = await open_incident(gateway)
    async with (stream(platform, params={"type": "incident", "id": watched}) as by_id,
                stream(platform, params={"type": "sla_timer"}) as timers):
        other = await open_incident(gateway)  # its SLA timers start
        await gateway.patch(f"{INCIDENTS}/{other}", json={"description": "other"})
        await gateway.patch(f"{INCIDENTS}/{watched}", json={"description": "watched"})
        got = await by_id.events(until=of(watched, "itsm.incident.updated"))
        assert {m.data["subject"] for m in got} == {watched}
        started = await timers.events(until=of(other, "itsm.sla.timer_started"))
        assert {m.data["record_type"] for m in started} == {"sla_timer"}
        assert started[-1].data["data"]["incident_id"] == other


async def test_a_client_that_comes_back_gets_every_event_it_missed_once_in_order(platform, gateway):
    incident = await open_incident(gateway)
    params = {"type": "incident", "id": incident}
    async with stream(platform) as observer:
        async with stream(platform, params=params) as first:
            await gateway.patch(f"{INCIDENTS}/{incident}", json={"description": "seen"})
            await first.next(of(incident, "itsm.incident.updated"))
            last_id = first.last_id
        # Away: three changes happen, and reach Kafka (the observer sees the last) before the client is back.
        for n in range(3):
            response = await gateway.patch(f"{INCIDENTS}/{incident}", json={"description": f"missed {n}"})
            assert response.status_code == 200, response.text
        await observer.next(lambda m: of(incident)(m) and m.data["data"].get("changes") == {"description": "missed 2"})
    async with stream(platform, params=params, last_event_id=last_id) as back:
        await gateway.patch(f"{INCIDENTS}/{incident}", json={"description": "live again"})
        got = await back.events(until=lambda m: m.data is not None and m.data["data"].get("changes")
                                == {"description": "live again"})
    assert [m.data["data"]["changes"]["description"] for m in got] == ["missed 0", "missed 1", "missed 2",
                                                                       "live again"]
    assert len({m.id for m in got}) == len(got)


async def test_a_requester_sees_their_own_incident_but_no_work_note_nor_anyone_elses(platform, gateway):
    requester = f"req-{uuid.uuid4().hex[:8]}"
    async with (stream(platform, subject=requester, roles=("requester",)) as theirs, stream(platform) as desk):
        own = await open_incident(gateway, caller=requester)
        elses = await open_incident(gateway, caller="someone-else")
        assert (await gateway.post(f"{INCIDENTS}/{own}/work-notes", json={"text": "internal"})).status_code == 200
        assert (await gateway.post(f"{INCIDENTS}/{elses}/comments", json={"text": "for them"})).status_code == 200
        assert (await gateway.post(f"{INCIDENTS}/{own}/comments", json={"text": "for you"})).status_code == 200
        # The desk sees it all, so it has all been read from Kafka; the requester's stream is a filter of that.
        wanted = {(own, "itsm.incident.commented"), (elses, "itsm.incident.commented"),
                  (own, "itsm.incident.work_note_added")}
        await desk.events(until=lambda m: not wanted.difference_update({(m.data["subject"], m.data["type"])})
                          and not wanted)
        got = await theirs.events(until=of(own, "itsm.incident.commented"))
        await asyncio.sleep(1.5)
        while not theirs.messages.empty():
            message = theirs.messages.get_nowait()
            if message.data is not None:
                got.append(message)
    assert {m.data["subject"] for m in got} == {own}
    assert "itsm.incident.work_note_added" not in {m.data["type"] for m in got}
    assert "itsm.incident.opened" in {m.data["type"] for m in got}


async def test_a_quiet_stream_has_heartbeats(platform):
    async with stream(platform, params={"id": "nothing-happens-here"}) as quiet:
        beat = await quiet.next(lambda m: bool(m.comments) and m.data is None, timeout=10)
        assert beat.comments


async def test_a_stream_needs_a_token_and_a_last_event_id_it_sent(platform):
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=10) as client:
        anonymous = await client.get(STREAM)
        assert anonymous.status_code == 401
        headers = {"authorization": f"Bearer {token('agent-1', ['agent'])}"}
        for bad in ("not-an-id!", "x" * 5000, "AgkA"):
            answer = await client.get(STREAM, headers={**headers, "last-event-id": bad})
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
        too_many = await client.get(STREAM, headers=headers, params=[("id", f"i{n}") for n in range(101)])
        assert too_many.status_code == 422


@pytest.mark.parametrize("roles", [("requester",)])
async def test_a_requester_may_not_narrow_to_records_they_cannot_see(platform, gateway, roles):
    """A requester asking for SLA timers, even of their own incident, gets none: filters narrow what a role sees."""
    async with stream(platform, subject="req-x", roles=roles, params={"type": "sla_timer"}) as theirs:
        incident = await open_incident(gateway, caller="req-x")
        with pytest.raises(TimeoutError):
            await theirs.next(of(incident), timeout=3)


async def test_a_stream_rides_out_a_kafka_restart(platform, gateway, stack_slot):
    """The gateway's feed reconnects by itself: an open stream goes on, and the gateway never died."""
    from tests.conftest import _stack

    stack = _stack(stack_slot)
    if stack._kafka_running() is None:
        pytest.skip("needs the Kafka this test run started")
    incident = await open_incident(gateway)
    async with stream(platform, params={"id": incident}) as live:
        await asyncio.to_thread(stack.kafka_stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.kafka_start)
        bootstrap = platform.infra_env["ITSM_KAFKA_BOOTSTRAP"]
        before = await topic_end_offsets(bootstrap, topics.INCIDENTS)
        response = await gateway.patch(f"{INCIDENTS}/{incident}", json={"description": "after the restart"})
        assert response.status_code == 200, response.text

        async def published() -> None:  # the incidents service's relay may take a while to get going again
            assert await topic_end_offsets(bootstrap, topics.INCIDENTS) != before

        await eventually(published, timeout=240, every=1)
        updated = await live.next(of(incident, "itsm.incident.updated"), timeout=40)
        assert updated.data["data"]["changes"] == {"description": "after the restart"}
    assert platform.processes["gateway"].poll() is None
