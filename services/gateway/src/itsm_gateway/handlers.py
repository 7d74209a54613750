"""Use cases of the gateway's own: integration keys, and handing alerts to Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import envelope, topics
from itsm_contracts.events.alerts import AlertReceived
from itsm_kit import context
from itsm_kit.errors import Problem
from itsm_kit.metrics import EVENTS_PUBLISHED
from itsm_gateway.store import IntegrationRepository

KEY_PREFIX = "itsm_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_integration(session: AsyncSession, *, name: str, kind: str, created_by: str) -> tuple[dict, str]:
    """Returns the integration and its key; the key is shown this once and only its hash is kept."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    integration = await IntegrationRepository(session).add(
        id=str(uuid.uuid4()), name=name, kind=kind, key_hash=hash_key(key), key_prefix=key[:12], created_by=created_by,
    )
    return integration, key


async def integration_for_key(session: AsyncSession, key: str) -> dict | None:
    return await IntegrationRepository(session).by_key_hash(hash_key(key))


async def publish_alerts(producer: AIOKafkaProducer, alerts: list[AlertReceived], source: str) -> None:
    """Returns once Kafka has acknowledged every alert (acks=all): only then are they accepted."""
    correlation = context.current_correlation_id()
    try:
        acks = [
            await producer.send(
                topics.ALERTS,
                envelope(alert, source=source, subject=alert.dedup_key, correlationid=correlation).to_json(),
                key=alert.dedup_key.encode(),
            )
            for alert in alerts
        ]
        await asyncio.gather(*acks)
    except KafkaError as exc:
        problem = Problem(503, "Service Unavailable", f"alerts could not be stored durably ({type(exc).__name__}); "
                          "retry the whole batch: alerts already stored are deduplicated")
        problem.headers["Retry-After"] = "5"
        raise problem from exc
    EVENTS_PUBLISHED.labels(topics.ALERTS).inc(len(alerts))


def utcnow() -> datetime:
    return datetime.now(UTC)
