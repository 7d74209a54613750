"""Use cases of the gateway's own: integrations (keys and policies), and handing alerts to Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import string
import uuid
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from cachetools import LRUCache, cached

from itsm_contracts import event_json, topics
from itsm_contracts.events.alerts import AlertReceived
from itsm_kit import context
from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict
from itsm_kit.errors import Problem, check_version, found, unavailable
from itsm_kit.kafka import MAX_EVENT_BYTES
from itsm_kit.metrics import EVENTS_PUBLISHED
from itsm_kit.unit_of_work import UnitOfWork
from itsm_gateway.domain import IntegrationPolicy, check_policy
from itsm_gateway.domain.policy import STORED
from itsm_gateway.store import IntegrationRepository

KEY_PREFIX = "itsm_"
# PagerDuty integration keys are 32 alphanumerics, and some senders check that shape.
PAGERDUTY_KEY_ALPHABET = string.ascii_lowercase + string.digits


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(kind: str) -> tuple[str, str]:
    """(key, the prefix shown to tell keys apart). Both shapes carry over 160 random bits."""
    if kind == "pagerduty":
        key = "".join(secrets.choice(PAGERDUTY_KEY_ALPHABET) for _ in range(32))
        return key, key[:8]
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:12]


def _with_policy(row: dict) -> dict:
    return {**row, "policy": policy_of(row)}


# A version's policy never changes (every write moves the version on), so (id, version) names it.
@cached(LRUCache(maxsize=10_000), key=lambda row: (row["id"], row["version"]))
def policy_of(row: Mapping[str, Any]) -> IntegrationPolicy:
    """The stored policy as the domain's model, parsed once per integration version (webhooks are hot)."""
    return IntegrationPolicy.model_validate(row["policy"], context=STORED)


async def create_integration(uow: UnitOfWork, *, name: str, kind: str, policy: IntegrationPolicy,
                             created_by: str) -> tuple[dict, str]:
    """Returns the integration and its key; the key is shown this once and only its hash is kept."""
    check_policy(kind, policy)
    key, prefix = new_key(kind)
    async with uow:
        integration = await IntegrationRepository(uow.session).add(
            id=str(uuid.uuid4()), name=name, kind=kind, key_hash=hash_key(key), key_prefix=prefix,
            created_by=created_by, policy=policy.model_dump(mode="json"),
        )
        await uow.commit()
    return _with_policy(integration), key


async def get_integration(uow: UnitOfWork, integration_id: str) -> dict:
    async with uow:
        return _with_policy(found(await IntegrationRepository(uow.session).get(integration_id), "integration",
                                  integration_id))


async def list_integrations(uow: UnitOfWork) -> list[dict]:
    async with uow:
        return [_with_policy(row) for row in await IntegrationRepository(uow.session).all()]


async def change_integration(uow: UnitOfWork, integration_id: str, *, name: str | None,
                             policy_changes: Mapping[str, Any], if_match: int | None, changed_by: str) -> dict:
    """Renames and/or changes the policy of an active integration; its key and kind stay."""
    async with uow:
        repo = IntegrationRepository(uow.session)
        current = found(await repo.get(integration_id, for_update=True), "integration", integration_id)
        check_version("integration", integration_id, current["version"], if_match)
        if current["revoked_at"] is not None:
            raise Conflict(f"integration {integration_id} is revoked; create a new one")
        policy = policy_of(current).changed(policy_changes)
        check_policy(current["kind"], policy)
        changed = await repo.change(integration_id, name=name or current["name"], updated_at=utcnow(),
                                    updated_by=changed_by, policy=policy.model_dump(mode="json"))
        await uow.commit()
    return _with_policy(changed)


async def revoke_integration(uow: UnitOfWork, integration_id: str) -> None:
    async with uow:
        if not await IntegrationRepository(uow.session).revoke(integration_id, utcnow()):
            raise Problem(404, "Not Found", f"active integration {integration_id} does not exist")
        await uow.commit()


async def integration_for_key(uow: UnitOfWork, key: str) -> dict | None:
    """The active integration a key belongs to, with its policy; None for an unknown or revoked key."""
    return await integration_for_key_hash(uow, hash_key(key))


async def integration_for_key_hash(uow: UnitOfWork, key_hash: str) -> dict | None:
    async with uow:
        row = await IntegrationRepository(uow.session).by_key_hash(key_hash)
    return _with_policy(row) if row else None


def partition_key(alert: AlertReceived) -> str:
    """An alert's own events stay in order on one partition; under storm control, its whole group's do.

    One consumer then sees a storm's alerts in sequence, so two of them cannot open two
    incidents side by side (an alert's group never changes, so its own order holds too).
    """
    if alert.storm_window_seconds and alert.group_key:
        return alert.group_key
    return alert.dedup_key




async def publish_alerts(producer: AIOKafkaProducer, alerts: list[AlertReceived], source: str, *,
                         timeout: float) -> None:
    """Returns once Kafka has acknowledged every alert (acks=all): only then are they accepted.

    A sender waits `timeout` seconds at most: during a Kafka outage it gets its 503 then, instead
    of once the producer gives up (its request timeout), while its retries pile up behind.
    """
    correlation = context.current_correlation_id()
    # Every record is built before the first is sent: one Kafka would refuse fails the request whole (413),
    # never after part of it was written (the sender would retry it forever).
    records = [(partition_key(alert).encode(),
                event_json(alert, source=source, subject=alert.dedup_key, correlationid=correlation))
               for alert in alerts]
    for n, (key, value) in enumerate(records):
        if len(key) + len(value) > MAX_EVENT_BYTES:
            raise Problem(413, "Content Too Large", f"alert {n} is {len(key) + len(value)} bytes as an event; "
                          f"Kafka takes at most {MAX_EVENT_BYTES}", alert=n, limit=MAX_EVENT_BYTES)
    try:
        async with asyncio.timeout(timeout):
            acks = [await producer.send(topics.ALERTS, value, key=key) for key, value in records]
            await asyncio.gather(*acks)
    except (KafkaError, TimeoutError) as exc:
        # Alerts sent before the failure may still be written: a retried batch is deduplicated downstream.
        raise unavailable(f"alerts could not be stored durably ({type(exc).__name__}); "
                          "retry the whole batch: alerts already stored are deduplicated") from exc
    EVENTS_PUBLISHED.labels(topics.ALERTS).inc(len(alerts))
