"""Kafka clients configured the one way this platform uses them."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from itsm_contracts.topics import dead_letter

log = logging.getLogger(__name__)


def make_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    # acks=all + idempotence: an acknowledged event survives a broker failover and a
    # retried send is not written twice.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=15000,
    )


async def start_with_retry(client, what: str, timeout: float) -> None:
    """Start a Kafka client, waiting for the broker during a stack's start-up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.start()
            return
        except KafkaConnectionError:
            if time.monotonic() > deadline:
                raise
            log.warning("kafka not reachable yet for %s; retrying", what)
            await asyncio.sleep(1)


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int, replication: int,
                        timeout: float = 60) -> None:
    """Create each topic and its dead-letter topic if missing (idempotent, any replica may run it)."""
    wanted = sorted({t for topic in topics for t in (topic, dead_letter(topic))})
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await start_with_retry(admin, "admin", timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, replication) for t in wanted if t not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica won the race
            except KafkaError as exc:  # one of several already existed
                log.info("create topics: %s", exc)
    finally:
        await admin.close()
