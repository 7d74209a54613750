"""Small helpers the cross-service tests share."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def token(subject: str = "agent-1", roles: list[str] | None = None, groups: list[str] | None = None) -> str:
    from itsm_gateway.auth import issue_token

    return issue_token(os.environ["ITSM_GATEWAY_JWT_SECRET"], subject, roles if roles is not None else ["admin"],
                       groups=groups)


def signed_in(platform, subject: str, *roles: str, groups: list[str] | None = None):
    """An HTTP client of the platform's gateway, signed in as `subject` with these roles (and the groups its token
    names: what catalogue items they may order), an async context manager."""
    import httpx

    return httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30,
                             headers={"authorization": f"Bearer {token(subject, roles=list(roles), groups=groups)}"})


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 30, every: float = 0.1) -> T:
    """Poll until `probe` returns without AssertionError; re-raise its last failure at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await probe()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(every)


async def topic_end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """How far each partition of a topic has been written: a write shows as a higher offset."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def group_offsets(bootstrap: str, group: str) -> dict:
    """A consumer group's committed offsets, by topic partition."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()


async def read_topic(bootstrap: str, topic: str, *, until: Callable[[list], bool], timeout: float = 30) -> list:
    """Every record of a topic from the start, read until `until(records)` holds."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while not until(records):
            assert time.monotonic() < deadline, f"{topic}: condition not met with {len(records)} records"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def publishing(bootstrap: str, source: str) -> AsyncIterator[Callable[..., Awaitable]]:
    """`publish(data, subject=, sequence=0)`: an event enveloped as the `source` service would, sent to its contract's
    topic keyed by its subject (so the services' consumers take it as that service's); the CloudEvent is returned."""
    from aiokafka import AIOKafkaProducer

    from itsm_contracts import envelope

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()

    async def publish(data, *, subject: str, sequence: int = 0):
        event = envelope(data, source=source, subject=subject, sequence=sequence)
        await producer.send_and_wait(data.topic, event.to_json(), key=subject.encode())
        return event

    try:
        yield publish
    finally:
        await producer.stop()


async def database_scalar(database: str, query: str, *args) -> object:
    """One value from a service's own database (for checks no API exposes yet)."""
    import asyncpg

    server = os.environ["ITSM_DATABASE_URL"].rsplit("/", 1)[0]
    connection = await asyncpg.connect(f"{server}/itsm_{database}")
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def service_sessions(service: str) -> AsyncIterator:
    """Sessions on a service's own database, as its handlers get them (the platform fixture set the environment)."""
    import importlib

    from itsm_kit.db import make_engine, make_sessionmaker

    settings = importlib.import_module(f"itsm_{service}.settings")
    settings_cls = next(v for k, v in vars(settings).items() if k.endswith("Settings") and k != "ServiceSettings")
    engine = make_engine(settings_cls().database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def fresh_database(name: str) -> str:
    """An empty database of this name on the test server (dropped first if it exists); its URL."""
    import asyncpg

    server = os.environ["ITSM_DATABASE_URL"].rsplit("/", 1)[0]
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{server}/{name}"


@contextlib.asynccontextmanager
async def migrated_unit_of_work(service: str, database: str, timeline=None) -> AsyncIterator:
    """A unit of work on a freshly migrated database of `service` named `database`, for calling its handlers
    directly; `timeline`: the service's timeline writer."""
    import subprocess
    import sys

    from itsm_kit.db import make_engine, make_sessionmaker
    from itsm_kit.outbox import Outbox
    from itsm_kit.unit_of_work import UnitOfWork

    url = await fresh_database(database)
    subprocess.run([sys.executable, "-m", f"itsm_{service}", "migrate"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, f"ITSM_{service.upper()}_DATABASE_URL": url})
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        yield UnitOfWork(make_sessionmaker(engine), Outbox(f"itsm/{service}"), timeline=timeline)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def problems_unit_of_work(database: str) -> AsyncIterator:
    """A unit of work on a freshly migrated problems database of this name."""
    from itsm_problems.store import write_timeline

    async with migrated_unit_of_work("problems", database, write_timeline) as uow:
        yield uow


@contextlib.contextmanager
def gateway_replica(platform, name: str, offset: int, **settings: object):
    """Another gateway process beside the platform's (same database and broker), as a second replica
    would run, with settings of its own (`key_cache_seconds=1` is ITSM_GATEWAY_KEY_CACHE_SECONDS); its URL.
    `offset` (10, 20, ... up to 90) keeps its port apart from the platform's and another replica's."""
    from processes import UPSTREAMS, Platform

    env = {**platform.extra_env, **{f"ITSM_GATEWAY_{k.upper()}": str(v) for k, v in settings.items()},
           # In front of the platform's services, as a second replica is.
           **{f"ITSM_GATEWAY_{service.upper()}_URL": platform.url(service) for service in UPSTREAMS}}
    replica = Platform(platform.infra_env, platform.log_dir / name, base_port=platform.base_port + offset,
                       extra_env=env)
    replica.start(["gateway"])
    try:
        yield replica.url("gateway")
    finally:
        replica.stop()


async def notification_delivery(channel: str, recipient: str, *, endpoint_id: str | None = None,
                                subject: str = "P1 opened", body: str = "INC0001001 is down",
                                payload: dict | None = None, record_id: str | None = None,
                                event_type: str = "itsm.incident.opened") -> str:
    """A delivery row as the notification pipeline makes one, due now, written straight into the notifications
    database (for tests of the dispatcher alone); its id."""
    import json
    import uuid

    import asyncpg

    delivery_id = str(uuid.uuid4())
    server = os.environ["ITSM_DATABASE_URL"].rsplit("/", 1)[0]
    connection = await asyncpg.connect(f"{server}/itsm_notifications")
    try:
        await connection.execute(
            "INSERT INTO deliveries (id, dedup_key, event_id, event_type, record_type, record_id, channel,"
            " endpoint_id, breaker_key, recipient, urgency, state, attempts, next_attempt_at, subject, body, payload,"
            " created_at, updated_at) VALUES ($1, $2, $3, $4, 'incident', $5, $6, $7, $8, $9, 'high', 'pending', 0,"
            " clock_timestamp(), $10, $11, $12::jsonb, clock_timestamp(), clock_timestamp())",
            delivery_id, f"test:{delivery_id}", str(uuid.uuid4()), event_type, record_id, channel, endpoint_id,
            endpoint_id or "smtp", recipient, subject, body, json.dumps(payload) if payload is not None else None)
    finally:
        await connection.close()
    return delivery_id


# --- what a frontend checks of an answer -------------------------------------------------------------------------

def ok(response, status: int = 200) -> dict:
    """The body of an answer with the status expected ({} for none)."""
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


def problem(response, status: int) -> dict:
    """An RFC 9457 problem with the status expected."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def if_match(record: dict) -> dict:
    """The If-Match header naming a record's version (its ETag)."""
    return {"if-match": f'"{record["version"]}"'}


REPO = Path(__file__).resolve().parents[1]
# `migrate` only goes up; down is Alembic's own command, with the service's settings from the environment.
DOWN = ("import sys; from pathlib import Path; from alembic import command; from itsm_kit.migrations import "
        "alembic_config; from itsm_{0}.settings import {1}Settings as S; "
        "command.downgrade(alembic_config(Path(sys.argv[1]), S()), sys.argv[2])")


def migrate(service: str, url: str, revision: str = "head") -> None:
    """Upgrade `service`'s database at `url` to `revision`."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", f"itsm_{service}", "migrate", "--revision", revision], check=True,
                   env={**os.environ, f"ITSM_{service.upper()}_DATABASE_URL": url}, stdout=subprocess.DEVNULL)


def downgrade(service: str, url: str, revision: str) -> None:
    """Downgrade `service`'s database at `url` to `revision`."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", DOWN.format(service, service.capitalize()),
                    str(REPO / "services" / service / "migrations"), revision], check=True,
                   env={**os.environ, f"ITSM_{service.upper()}_DATABASE_URL": url}, stdout=subprocess.DEVNULL)
