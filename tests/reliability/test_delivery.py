"""No accepted event is lost or applied twice: crashes of the relay and of a consumer."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

import asyncpg
import pytest
from sqlalchemy import Column, MetaData, String, Table, delete, func, insert, select

from itsm_contracts import CloudEvent, EventData, envelope
from itsm_contracts.events import register
from itsm_kit.consumer import EventConsumer
from itsm_kit.db import inbox, kit_metadata, make_engine, make_sessionmaker, outbox
from itsm_kit.kafka import ensure_topics, make_producer
from itsm_kit.domain import RaisesEvents
from itsm_kit.outbox import Outbox, OutboxRelay
from itsm_kit.unit_of_work import UnitOfWork
from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.helpers import database_scalar, eventually, read_topic

RELAY_TOPIC = f"itsm.test.relay.{uuid.uuid4().hex[:8]}"


@register
class WidgetShipped(EventData):
    """A throwaway contract on a topic of its own, so this test touches no real flow."""

    type: ClassVar[str] = "itsm.test.widget_shipped"
    topic: ClassVar[str] = RELAY_TOPIC
    widget_id: str


effects_metadata = MetaData()
effects = Table("widget_effects", effects_metadata, Column("event_id", String(64), primary_key=True),
                Column("widget_id", String(64), nullable=False))


class RelayCrashed(Exception):
    pass


@pytest.fixture(scope="module")
async def scratch(infra):
    """A database of the kit's tables only, and a producer on the real broker."""
    server = infra["ITSM_DATABASE_URL"].rsplit("/", 1)[0]
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute("DROP DATABASE IF EXISTS itsm_kit_test WITH (FORCE)")
    await admin.execute("CREATE DATABASE itsm_kit_test")
    await admin.close()
    engine = make_engine(f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/itsm_kit_test")
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
        await conn.run_sync(effects_metadata.create_all)
    await ensure_topics(infra["ITSM_KAFKA_BOOTSTRAP"], [RELAY_TOPIC], partitions=1, replication=1)
    producer = make_producer(infra["ITSM_KAFKA_BOOTSTRAP"], "reliability-test")
    await producer.start()
    yield make_sessionmaker(engine), producer, infra["ITSM_KAFKA_BOOTSTRAP"]
    await producer.stop()
    await engine.dispose()


async def test_relay_crash_between_publish_and_mark_sent_duplicates_but_applies_once(scratch):
    sessions, producer, bootstrap = scratch
    staged = Outbox("itsm/test")
    async with sessions() as session, session.begin():
        await staged.add_many(session, [("w-1", [(1, WidgetShipped(widget_id="w-1"))], None)])
        event_id = await session.scalar(select(outbox.c.event_id))

    crashing = OutboxRelay(sessions, producer)

    async def crash(ids):
        raise RelayCrashed  # Kafka has the event; the process dies before marking it sent

    crashing.after_publish = crash
    with pytest.raises(RelayCrashed):
        await crashing.publish_batch()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None))) == 1

    assert await OutboxRelay(sessions, producer).publish_batch() == 1  # the restarted relay sends it again
    records = await read_topic(bootstrap, RELAY_TOPIC, until=lambda rs: len(rs) >= 2)
    assert [CloudEvent.from_json(r.value).id for r in records] == [event_id, event_id]

    async def ship(session, event, data):
        await session.execute(effects.insert().values(event_id=event.id, widget_id=data.widget_id))

    consumer = EventConsumer(name=f"reliability-{uuid.uuid4().hex[:6]}", topics=[RELAY_TOPIC],
                             handlers={WidgetShipped.type: ship}, bootstrap=bootstrap, sessions=sessions,
                             producer=producer)
    running = asyncio.create_task(consumer.run())

    async def both_deliveries_seen():
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(inbox)) == 1
        assert not running.done()

    await eventually(both_deliveries_seen)
    await asyncio.sleep(1)  # time for the duplicate to arrive, be recognised and change nothing
    consumer.stop()
    await running
    async with sessions() as session:
        assert (await session.execute(select(effects.c.widget_id))).scalars().all() == ["w-1"]
        assert await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None))) == 0


@pytest.mark.e2e
async def test_incidents_killed_mid_batch_loses_nothing(platform, gateway, integration_key):
    n = 1500
    keys = fingerprints(n)
    prefix = keys[0][:8]
    headers = {"x-integration-key": integration_key}
    for start in range(0, n, 500):
        batch = alertmanager_batch([alert(fp, severity="warning") for fp in keys[start:start + 500]])
        assert (await gateway.post("/api/v1/integrations/alertmanager", json=batch, headers=headers)).status_code == 202

    async def opened() -> int:
        return await database_scalar("incidents", "SELECT count(*) FROM incidents WHERE dedup_key LIKE $1",
                                     f"{prefix}%")

    async def some_opened():
        assert await opened() > 0

    await eventually(some_opened, every=0.02)
    platform.kill("incidents")  # SIGKILL mid-stream: no graceful shutdown, no final commit
    at_kill = await opened()
    assert at_kill < n, "the kill should land mid-stream; send more alerts if the consumer got faster"
    platform.start(["incidents"])

    async def all_opened_once():
        assert await opened() == n
        assert await database_scalar(
            "incidents", "SELECT count(*) FROM incidents WHERE dedup_key LIKE $1 AND alert_count = 1", f"{prefix}%"
        ) == n

    await eventually(all_opened_once, timeout=90)

    async def every_incident_has_its_timers():  # the outbox delivered what the killed process staged
        ids = await database_scalar("incidents", "SELECT array_agg(id) FROM incidents WHERE dedup_key LIKE $1",
                                    f"{prefix}%")
        assert await database_scalar("sla", "SELECT count(*) FROM timers WHERE incident_id = ANY($1)", ids) == 2 * n

    await eventually(every_incident_has_its_timers, timeout=90)
    print(f"killed with {at_kill}/{n} incidents committed")


@pytest.mark.e2e
async def test_malformed_events_go_to_the_dead_letter_topic_and_the_consumer_keeps_going(
        platform, infra, gateway, integration_key):
    bootstrap = infra["ITSM_KAFKA_BOOTSTRAP"]
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    poison_key = f"poison-{uuid.uuid4().hex[:8]}".encode()
    bad_envelope = CloudEvent(source="itsm/test", type="itsm.alert.received", subject="x",
                              dataschema="urn:itsm:schema:itsm.alert.received.v1", data={"status": "exploded"})
    try:
        await producer.send_and_wait("itsm.alerts", b"\x00 definitely not json", key=poison_key)
        await producer.send_and_wait("itsm.alerts", bad_envelope.to_json(), key=poison_key)
    finally:
        await producer.stop()
    [fp] = fingerprints(1)
    body = alertmanager_batch([alert(fp)])
    assert (await gateway.post("/api/v1/integrations/alertmanager", json=body,
                               headers={"x-integration-key": integration_key})).status_code == 202

    async def alert_behind_the_poison_opened_an_incident():
        page = (await gateway.get("/api/v1/incidents", params={"dedup_key": fp})).json()
        assert len(page["items"]) == 1

    await eventually(alert_behind_the_poison_opened_an_incident)
    dead = await read_topic(bootstrap, "itsm.alerts.dlq",
                            until=lambda rs: sum(r.key == poison_key for r in rs) >= 2)
    mine = [r for r in dead if r.key == poison_key]
    assert [r.value for r in mine] == [b"\x00 definitely not json", bad_envelope.to_json()]
    for record in mine:
        headers = dict(record.headers)
        assert headers["source-topic"] == b"itsm.alerts" and headers["consumer-group"] == b"incidents"
        assert b"malformed event" in headers["error"]


async def test_a_failing_event_is_retried_then_dead_lettered_and_the_others_still_apply(scratch):
    sessions, producer, bootstrap = scratch
    staged = Outbox("itsm/test")
    async with sessions() as session, session.begin():
        await staged.add_many(session, [("batch", [(n + 1, WidgetShipped(widget_id=widget)) for n, widget
                                                   in enumerate(["w-a", "w-b", "poison", "w-c", "w-d"])], None)])
    assert await OutboxRelay(sessions, producer).publish_batch() == 5
    attempts = []

    async def ship(session, event, data):
        if data.widget_id == "poison":
            attempts.append(event.id)
            raise ValueError("this widget cannot ship")
        await session.execute(effects.insert().values(event_id=event.id, widget_id=data.widget_id))

    consumer = EventConsumer(name=f"poison-{uuid.uuid4().hex[:6]}", topics=[RELAY_TOPIC],
                             handlers={WidgetShipped.type: ship}, bootstrap=bootstrap, sessions=sessions,
                             producer=producer, max_attempts=3, retry_backoff=0.01)
    running = asyncio.create_task(consumer.run())

    async def all_handled():
        async with sessions() as session:
            shipped = (await session.execute(select(effects.c.widget_id).order_by(effects.c.widget_id))).scalars()
            assert [w for w in shipped.all() if w != "w-1"] == ["w-a", "w-b", "w-c", "w-d"]
            outcome = await session.scalar(select(inbox.c.outcome).where(inbox.c.event_id == attempts[0]))
            assert outcome == "dead_lettered"

    await eventually(all_handled)
    consumer.stop()
    await running
    # first try in the batch, once more isolated, then max_attempts - 1 retries alone
    assert len(attempts) == 4 and len(set(attempts)) == 1
    dead = await read_topic(bootstrap, f"{RELAY_TOPIC}.dlq", until=lambda rs: len(rs) >= 1)
    assert CloudEvent.from_json(dead[0].value).id == attempts[0]
    assert dict(dead[0].headers)["error"] == b"ValueError: this widget cannot ship"


BATCH_TOPIC = f"itsm.test.batches.{uuid.uuid4().hex[:8]}"


@register
class GadgetCounted(EventData):
    """A throwaway contract on a topic of three partitions."""

    type: ClassVar[str] = "itsm.test.gadget_counted"
    topic: ClassVar[str] = BATCH_TOPIC
    gadget_id: str
    n: int


async def test_relay_batches_keep_each_key_on_its_partition_and_in_order(scratch):
    sessions, producer, bootstrap = scratch
    await ensure_topics(bootstrap, [BATCH_TOPIC, f"{BATCH_TOPIC}.probe"], partitions=3, replication=1)
    keys = [f"gadget-{i}" for i in range(15)]
    async with sessions() as session, session.begin():
        await Outbox("itsm/test").add_many(session, [
            (keys[n % 15], [(n + 1, GadgetCounted(gadget_id=keys[n % 15], n=n))], None) for n in range(600)])
    relay = OutboxRelay(sessions, producer, batch_size=250)
    while await relay.publish_batch():
        pass
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None))) == 0

    records = await read_topic(bootstrap, BATCH_TOPIC, until=lambda rs: len(rs) >= 600)
    assert len(records) == 600
    for k, key in enumerate(keys):
        mine = sorted((r for r in records if r.key == key.encode()), key=lambda r: r.offset)
        # where a plain send puts the key, on a topic of as many partitions
        probe = await (await producer.send(f"{BATCH_TOPIC}.probe", b"{}", key=key.encode()))
        assert {r.partition for r in mine} == {probe.partition}
        assert [CloudEvent.from_json(r.value).data["n"] for r in mine] == list(range(k, 600, 15))



@dataclass
class Widget(RaisesEvents):
    """An aggregate that keeps a timeline, as incidents do."""

    id: str
    version: int = 0
    events: list = field(default_factory=list)
    activity: list = field(default_factory=list)

    def ship(self, note: str) -> None:
        self.record(WidgetShipped(widget_id=self.id))
        self.activity.append(note)


async def widget_timeline(session, lines) -> None:
    await session.execute(insert(effects), [{"event_id": f"{widget}:{n}", "widget_id": note}
                                            for widget, notes in lines for n, note in enumerate(notes)])


async def test_a_unit_of_work_commits_what_its_aggregates_raised_with_their_causes_or_nothing(scratch):
    sessions, _producer, _bootstrap = scratch
    cause = envelope(WidgetShipped(widget_id="order-1"), source="itsm/test", subject="order-1", sequence=1)
    shipped, dropped, untimed = (Widget(f"uow-{uuid.uuid4().hex[:8]}") for _ in range(3))
    unit = UnitOfWork(sessions, Outbox("itsm/test"), timeline=widget_timeline)

    async with unit:
        shipped.ship("first")
        unit.add(shipped, shipped)  # adding twice stages once
        unit.caused_by(cause)
        shipped.ship("second")
        await unit.commit()
    with pytest.raises(RuntimeError):
        async with unit:
            dropped.ship("never")
            unit.add(dropped)
            raise RuntimeError("the handler failed before committing")
    with pytest.raises(RuntimeError, match="no timeline writer"):
        async with UnitOfWork(sessions, Outbox("itsm/test")) as careless:
            untimed.ship("lost?")
            careless.add(untimed)
            await careless.commit()

    async with sessions() as session:
        rows = (await session.execute(select(outbox.c.key, outbox.c.payload).where(
            outbox.c.key.in_([shipped.id, dropped.id, untimed.id])).order_by(outbox.c.id))).all()
        timeline = (await session.execute(select(effects.c.event_id, effects.c.widget_id).where(
            effects.c.event_id.like("uow-%")).order_by(effects.c.event_id))).all()
        await session.execute(delete(outbox).where(outbox.c.key.like("uow-%")))
        await session.execute(delete(effects).where(effects.c.event_id.like("uow-%")))
        await session.commit()
    staged = [CloudEvent.from_json(r.payload) for r in rows]
    assert [(e.subject, e.sequence, e.causationid) for e in staged] == [(shipped.id, 1, cause.id),
                                                                         (shipped.id, 2, None)]
    assert [tuple(r) for r in timeline] == [(f"{shipped.id}:0", "first"), (f"{shipped.id}:1", "second")]
    assert not (shipped.events or shipped.activity)
