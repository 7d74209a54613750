"""deploy/local/devstack.py brings up real PostgreSQL and Kafka, finds them again, and stops them.

Uses its own stack name and ports, so it never touches the dev or test stacks, nor another
run's (each test slot has its own).
"""
from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
from devstack import DATABASES, DevstackError, Stack  # noqa: E402



def ports(slot: int) -> tuple[str, int, int]:
    """This run's stack name and ports: another run beside it (another checkout) holds another
    test slot, so it gets its own (Kafka's controller listens on its port + 1).

    Below the kernel's ephemeral range (32768 and up): these servers start in the middle of a
    run, while hundreds of client connections hold ports of that range, and twice a run found
    its port taken by one ("Address already in use").
    """
    return f"infratest{slot or ''}", 31452 + slot, 31112 + 2 * slot


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack_env(stack_slot):
    name, pg_port, kafka_port = ports(stack_slot)
    with pytest.MonkeyPatch.context() as mp:
        # These tests are about the servers devstack starts itself, not external ones.
        mp.delenv("ITSM_DATABASE_URL", raising=False)
        mp.delenv("ITSM_KAFKA_BOOTSTRAP", raising=False)
        stack = Stack(name, pg_port=pg_port, kafka_port=kafka_port)
        stack.down(purge=True)  # leftovers of an interrupted run
        try:
            yield stack, stack.up()
        finally:
            stack.down(purge=True)


def test_up_returns_env(stack_env):
    stack, env = stack_env
    assert env == {
        "ITSM_DATABASE_URL": f"postgresql://itsm:itsm@127.0.0.1:{stack.pg_port}/postgres",
        "ITSM_KAFKA_BOOTSTRAP": f"127.0.0.1:{stack.kafka_port}",
    }
    assert stack.started_by_us()


def test_service_databases_exist_and_answer(stack_env):
    _, env = stack_env
    server_url = env["ITSM_DATABASE_URL"].rsplit("/", 1)[0]

    async def check() -> None:
        for db in DATABASES:
            conn = await asyncpg.connect(f"{server_url}/{db}")
            try:
                assert await conn.fetchval("SELECT current_database()") == db
            finally:
                await conn.close()

    asyncio.run(check())


async def produce_and_consume(bootstrap: str, topic: str, group: str) -> bytes:
    payload = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=b"infratest")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, message.partition))
    finally:
        await consumer.stop()
    assert message.value == payload
    assert committed == message.offset + 1
    return payload


def test_kafka_round_trip_through_consumer_group(stack_env):
    _, env = stack_env
    topic = f"infratest-{uuid.uuid4().hex[:8]}"
    asyncio.run(produce_and_consume(env["ITSM_KAFKA_BOOTSTRAP"], topic, group="infratest"))


def test_kafka_restart_keeps_messages(stack_env):
    stack, env = stack_env
    bootstrap = env["ITSM_KAFKA_BOOTSTRAP"]
    topic = f"infratest-{uuid.uuid4().hex[:8]}"
    payload = asyncio.run(produce_and_consume(bootstrap, topic, group="before-restart"))

    stack.kafka_stop()
    assert not port_open(stack.kafka_port)
    stack.kafka_start()

    async def read_back() -> bytes:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id="after-restart", auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            return (await asyncio.wait_for(consumer.getone(), 30)).value
        finally:
            await consumer.stop()

    assert asyncio.run(read_back()) == payload


def test_second_up_is_fast_and_starts_nothing(stack_env):
    stack, env = stack_env
    again = Stack(stack.name, pg_port=stack.pg_port, kafka_port=stack.kafka_port)
    started = time.monotonic()
    assert again.up() == env
    assert time.monotonic() - started < 5
    assert not again.started_by_us()


def test_down_stops_the_servers(stack_env):
    stack, _ = stack_env
    stack.down()
    assert not any(port_open(port) for port in (stack.pg_port, stack.kafka_port, stack.kafka_port + 1))
    assert stack.status() == {"postgres": "stopped", "kafka": "stopped"}


def test_a_start_that_fails_partway_stops_what_it_started(stack_slot, monkeypatch):
    """Kafka launches first; PostgreSQL failing once the broker listens (as initdb did in a private
    folder) must not leave the broker running, or the next start finds its ports taken."""
    name, pg_port, kafka_port = f"infrafail{stack_slot or ''}", 31462 + stack_slot, 31132 + 2 * stack_slot
    monkeypatch.delenv("ITSM_DATABASE_URL", raising=False)
    monkeypatch.delenv("ITSM_KAFKA_BOOTSTRAP", raising=False)
    stack = Stack(name, pg_port=pg_port, kafka_port=kafka_port)
    stack.down(purge=True)

    def pg_fails(self) -> None:
        deadline = time.monotonic() + 60
        while not port_open(kafka_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_open(kafka_port), "the broker never listened"
        raise DevstackError("initdb failed (as the test wants)")

    monkeypatch.setattr(Stack, "_pg_launch", pg_fails)
    try:
        with pytest.raises(DevstackError, match="as the test wants"):
            stack.up()
        assert not any(port_open(port) for port in (kafka_port, kafka_port + 1)), "the broker still runs"
        assert stack.status() == {"postgres": "stopped", "kafka": "stopped"}
        assert not stack.started_by_us()
    finally:
        Stack(name, pg_port=pg_port, kafka_port=kafka_port).down(purge=True)


# --- make run's SMTP sink (deploy/local/run.py) ---------------------------------------------------

def test_make_run_keeps_the_platforms_mail_in_a_folder_the_banner_names(tmp_path):
    import smtplib
    from email.message import EmailMessage

    import run
    from mailsink import free_port
    from processes import Platform

    port = free_port()
    sink, env = run.start_mail_sink(8000, tmp_path / "mail", {"ITSM_SMTP_SINK_PORT": str(port)})
    try:
        assert sink is not None
        assert (env["ITSM_NOTIFICATIONS_SMTP_HOST"], env["ITSM_NOTIFICATIONS_SMTP_PORT"]) == ("127.0.0.1", str(port))
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "itsm@localhost", "ops@example.com", "SLA breached"
        message.set_content("INC0000001 breached its resolution target")
        with smtplib.SMTP(env["ITSM_NOTIFICATIONS_SMTP_HOST"], int(env["ITSM_NOTIFICATIONS_SMTP_PORT"])) as smtp:
            smtp.send_message(message)
        [kept] = (tmp_path / "mail").glob("*.eml")
        assert "Subject: SLA breached" in kept.read_text()
        platform = Platform({}, tmp_path / "logs", extra_env={"ITSM_INTERNAL_KEY": "k" * 48})
        assert f"mail      {tmp_path / 'mail'}/" in run.banner(platform, "TOKEN", sink, {})
    finally:
        if sink is not None:
            sink.stop()


def test_make_run_starts_no_sink_where_a_relay_is_configured(tmp_path):
    import run
    from processes import Platform

    environ = {"ITSM_NOTIFICATIONS_SMTP_HOST": "smtp.example.com", "ITSM_NOTIFICATIONS_SMTP_PORT": "587"}
    assert run.start_mail_sink(8000, tmp_path / "mail", environ) == (None, {})
    assert not (tmp_path / "mail").exists()
    platform = Platform({}, tmp_path / "logs", extra_env={"ITSM_INTERNAL_KEY": "k" * 48})
    assert "mail      sent through the SMTP relay smtp.example.com:587" in run.banner(platform, "T", None, environ)
    # Its default port, from the base port, clear of the services and their metrics.
    assert 8000 + run.SMTP_SINK_OFFSET == 8025
