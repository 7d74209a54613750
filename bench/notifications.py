"""Notifications: the delay from an event to its delivery at a webhook receiver (target p99 under 1 s at 200 events/s),
and the throughput to a healthy receiver while another one is down.

- the receivers: a small HTTP server in this process (asyncio, keep-alive) that notes when each delivery arrives,
  by the event id in the webhook's body (the payload's `event.id`, channels/__init__.py);
- the events: itsm.sla.warning CloudEvents (or itsm.incident.opened, BENCH_NOTIFY_EVENT=incident_opened; the
  itsm_contracts envelope) published to their topic as the SLA (incidents) service's relay publishes them, RATE a
  second for SECONDS, each marked (`policy`, `caller`) so only this run's subscriptions match; an event's time is
  when it was handed to the producer (this process's monotonic clock, the
  receiver's too);
- delivery delay: a webhook endpoint and a subscription (through the gateway's admin API) for those events; p50,
  p95, p99 and max of event -> arrival at the receiver;
- one receiver dead: a second endpoint where nobody listens and a second subscription to it, matching the same
  events as a third one to the healthy receiver: deliveries a second to the healthy one and their p99 delay while
  every delivery to the dead one fails (its breaker and backlog as the gateway shows them, at the end).

`python -m bench.notifications` runs this one alone (a stack of its own); BENCH_NOTIFY_RATE and BENCH_NOTIFY_SECONDS
change the rate and how long it lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer

from itsm_contracts import envelope, topics
from itsm_contracts.events.incidents import IncidentOpened
from itsm_contracts.events.sla import SlaWarning

RATE = float(os.environ.get("BENCH_NOTIFY_RATE", "200"))  # events a second
SECONDS = float(os.environ.get("BENCH_NOTIFY_SECONDS", "30"))
TARGET_P99_MS = 1_000
DRAIN_SECONDS = 120  # how long after the last event deliveries may still arrive before the run gives up
TICK = 0.005  # the pacer sends what is due every 5 ms
SAMPLES = 100  # events whose delivery log says where their delay went


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Receiver:
    """An HTTP/1.1 server on loopback that answers 200 to everything and notes when each event's delivery came."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # event id -> time.perf_counter() of its first delivery
        self.requests = 0
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                now = time.perf_counter()
                self.requests += 1
                with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                    self.arrivals.setdefault(json.loads(body)["event"]["id"], now)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the sender went away, or the server stops
        finally:
            writer.close()


def nobody_listening() -> str:
    """A loopback URL whose port refuses connections (a receiver that is down)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def opened(marker: str) -> tuple[str, datetime, bytes]:
    """An itsm.incident.opened as the incidents service publishes it; `caller` carries the run's marker."""
    incident_id, now = str(uuid.uuid4()), datetime.now(UTC)
    data = IncidentOpened(incident_id=incident_id, number=f"B{incident_id[:8]}", short_description="notify bench",
                          state="new", impact=3, urgency=3, priority=3, origin="manual", caller=marker, opened_at=now)
    event = envelope(data, source="itsm/incidents", subject=incident_id, sequence=1, time=now)
    return event.id, now, event.to_json()


def warned(marker: str) -> tuple[str, datetime, bytes]:
    """An itsm.sla.warning as the SLA service publishes it; `policy` carries the run's marker."""
    timer_id, now = str(uuid.uuid4()), datetime.now(UTC)
    data = SlaWarning(timer_id=timer_id, incident_id=str(uuid.uuid4()), kind="resolution", policy=marker, priority=3,
                      due_at=now, target_seconds=3600, threshold=75, crossed_at=now)
    event = envelope(data, source="itsm/sla", subject=timer_id, sequence=1, time=now)
    return event.id, now, event.to_json()


# What the events are (BENCH_NOTIFY_EVENT): SLA warnings by default, which only notifications acts on, so the figures
# are the notification path's; incident openings also start SLA timers and feed problems and changes (the whole
# platform's work at that rate, which the ingestion benchmarks measure).
EVENTS = {"sla_warning": (warned, topics.SLA, SlaWarning.type, "policy"),
          "incident_opened": (opened, topics.INCIDENTS, IncidentOpened.type, "caller")}
MAKE, TOPIC, EVENT_TYPE, MARKED = EVENTS[os.environ.get("BENCH_NOTIFY_EVENT", "sla_warning")]


async def endpoint(gateway: httpx.AsyncClient, name: str, url: str) -> str:
    response = await gateway.post("/api/v1/endpoints", json={"name": name, "kind": "webhook", "url": url})
    response.raise_for_status()
    return response.json()["id"]


async def subscribe(gateway: httpx.AsyncClient, name: str, marker: str, endpoint_id: str) -> str:
    response = await gateway.post("/api/v1/subscriptions", json={
        "name": name, "event_type": EVENT_TYPE, "channel": "webhook", "endpoint_id": endpoint_id,
        "recipients": [{"kind": "endpoint"}], "filter": [{"field": MARKED, "op": "==", "value": marker}],
        "urgency": "high"})
    response.raise_for_status()
    return response.json()["id"]


class Sent(dict[str, float]):
    """Event id -> time.perf_counter() when it was handed to the producer; `times`: its CloudEvent time."""

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, datetime] = {}


async def publish(producer: AIOKafkaProducer, marker: str, rate: float, seconds: float) -> Sent:
    """RATE events a second for `seconds`, paced by the clock (a late tick sends what is due at once)."""
    sent = Sent()
    total, interval = round(rate * seconds), 1 / rate
    start, pending = time.perf_counter(), []
    n = 0
    while n < total:
        due = min(total, int((time.perf_counter() - start) / interval) + 1)
        while n < due:
            event_id, sent.times[event_id], value = MAKE(marker)
            sent[event_id] = time.perf_counter()
            pending.append(await producer.send(TOPIC, value, key=event_id.encode()))
            n += 1
        await asyncio.sleep(TICK)
    await asyncio.gather(*pending)  # every one acknowledged by Kafka
    return sent


async def drain(receiver: Receiver, sent: dict[str, float], timeout: float = DRAIN_SECONDS) -> None:
    deadline = time.perf_counter() + timeout
    while any(e not in receiver.arrivals for e in sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)


def delays_ms(receiver: Receiver, sent: dict[str, float]) -> list[float]:
    """Each event's delay; one that never arrived (within the drain) counts as longer than any: infinite."""
    return [(receiver.arrivals[e] - t) * 1000 if e in receiver.arrivals else math.inf for e, t in sent.items()]


def figures(delays: list[float]) -> dict:
    """Percentiles over every event; null where the percentile falls among the events that never arrived."""
    def ms(value: float) -> float | None:
        return None if math.isinf(value) else round(value, 1)

    return {"p50_ms": ms(percentile(delays, 50)), "p95_ms": ms(percentile(delays, 95)),
            "p99_ms": ms(percentile(delays, 99)), "max_ms": ms(max(delays))}


async def stages(gateway: httpx.AsyncClient, sent: Sent, endpoint_id: str, samples: int = SAMPLES) -> dict:
    """Where the delay goes, from the delivery log of a sample of the events (wall clocks, the same machine):
    event -> its delivery row made (consumption and the pipeline), row made -> sent (the dispatcher)."""
    ids = list(sent)[:: max(1, len(sent) // samples)]
    made, sending = [], []
    for event_id in ids:
        page = await gateway.get("/api/v1/deliveries", params={"event_id": event_id, "endpoint_id": endpoint_id})
        for row in page.json().get("items", []) if page.status_code == 200 else []:
            created = datetime.fromisoformat(row["created_at"])
            made.append((created - sent.times[event_id]).total_seconds() * 1000)
            if row.get("sent_at"):
                sending.append((datetime.fromisoformat(row["sent_at"]) - created).total_seconds() * 1000)
    return {"sampled": len(ids),
            "event_to_row_p50_ms": round(percentile(made, 50), 1) if made else None,
            "event_to_row_p99_ms": round(percentile(made, 99), 1) if made else None,
            "row_to_sent_p50_ms": round(percentile(sending, 50), 1) if sending else None,
            "row_to_sent_p99_ms": round(percentile(sending, 99), 1) if sending else None}


async def run(gateway: httpx.AsyncClient, bootstrap: str) -> dict:
    tag = uuid.uuid4().hex[:8]
    live = await Receiver().start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, enable_idempotence=True)
    await producer.start()
    made: list[str] = []  # what to remove afterwards, so the next benchmark runs beside no dead receiver's queue
    try:
        live_id = await endpoint(gateway, f"bench-live-{tag}", f"{live.url}/live")
        made += [f"/api/v1/endpoints/{live_id}",
                 f"/api/v1/subscriptions/{await subscribe(gateway, f'bench delay {tag}', f'bench-a-{tag}', live_id)}"]

        # Warm-up: connections, the consumer's assignment, the subscription cache if any.
        warm = await publish(producer, f"bench-a-{tag}", 20, 1)
        await drain(live, warm, 60)
        if not all(e in live.arrivals for e in warm):
            raise RuntimeError(f"warm-up: {sum(e in live.arrivals for e in warm)} of {len(warm)} deliveries arrived")

        # (a) event -> delivery at the receiver, RATE a second.
        started = time.perf_counter()
        sent = await publish(producer, f"bench-a-{tag}", RATE, SECONDS)
        publishing = time.perf_counter() - started
        await drain(live, sent)
        delays = delays_ms(live, sent)
        delay = {"event_type": EVENT_TYPE,
                 "events": len(sent), "rate_per_s": RATE, "achieved_rate_per_s": round(len(sent) / publishing, 1),
                 "delivered": sum(e in live.arrivals for e in sent), "drain_s": DRAIN_SECONDS, **figures(delays),
                 "target_p99_ms": TARGET_P99_MS,
                 **await stages(gateway, sent, live_id)}

        # (b) the same with a second endpoint nobody listens at, subscribed to the same events.
        # What (a) left undelivered is still in the healthy receiver's queue: (b) is measured behind it.
        backlog = sum(e not in live.arrivals for e in sent)
        dead_id = await endpoint(gateway, f"bench-dead-{tag}", f"{nobody_listening()}/dead")
        made += [f"/api/v1/endpoints/{dead_id}",
                 f"/api/v1/subscriptions/{await subscribe(gateway, f'bench dead {tag}', f'bench-b-{tag}', dead_id)}",
                 f"/api/v1/subscriptions/{await subscribe(gateway, f'bench healthy {tag}', f'bench-b-{tag}', live_id)}"]
        started = time.perf_counter()
        sent = await publish(producer, f"bench-b-{tag}", RATE, SECONDS)
        await drain(live, sent)
        arrived = sorted(live.arrivals[e] for e in sent if e in live.arrivals)
        delays = delays_ms(live, sent)
        health = await gateway.get(f"/api/v1/endpoints/{dead_id}/health")
        dead = health.json() if health.status_code == 200 else {}
        one_dead = {
            "event_type": EVENT_TYPE, "events": len(sent), "rate_per_s": RATE, "backlog_from_a": backlog,
            "delivered_healthy": len(arrived), "drain_s": DRAIN_SECONDS,
            # From the first event to the last arrival at the healthy receiver.
            "healthy_deliveries_per_s": round(len(arrived) / (arrived[-1] - started), 1) if arrived else 0.0,
            **figures(delays), "target_p99_ms": TARGET_P99_MS,
            "dead_breaker": dead.get("breaker"), "dead_pending": dead.get("pending"), "dead_dead": dead.get("dead"),
            **await stages(gateway, sent, live_id)}
    finally:
        for path in reversed(made):  # subscriptions first; a removed endpoint's waiting deliveries are dead
            await gateway.delete(path)
        await producer.stop()
        await live.stop()
    return {"notification_delivery_delay": delay, "notification_delivery_one_receiver_dead": one_dead}


async def alone(platform, secret: str, incidents_db: str) -> dict:
    """This benchmark without the others (`python -m bench.notifications`)."""
    from itsm_gateway.auth import issue_token

    headers = {"authorization": f"Bearer {issue_token(secret, 'bench', ['admin'])}"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), headers=headers, timeout=60) as gateway:
        return await run(gateway, platform.infra_env["ITSM_KAFKA_BOOTSTRAP"])


def standalone() -> int:
    """A stack and ports of its own: `make bench` or another benchmark may be running on the `bench` stack."""
    from bench.__main__ import main

    return main(alone, stack_name="bench-notify", pg_port=25590, kafka_port=29590, base_port=21200)


if __name__ == "__main__":
    sys.exit(standalone())
