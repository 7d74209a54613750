"""The delivery log is kept ITSM_NOTIFICATIONS_DELIVERY_RETENTION_DAYS, then deleted: finished deliveries with their
attempts, and the connector webhooks taken; nothing that may still be sent."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from itsm_kit.clock import utcnow
from itsm_kit.db import make_engine, make_sessionmaker
from itsm_kit.outbox import Outbox
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications.handlers.deliveries import prune_deliveries
from itsm_notifications.store.tables import connector_receipts, deliveries, delivery_attempts
from tests.helpers import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def sessions(infra):
    url = await fresh_database("itsm_notifications_retention")
    subprocess.run([sys.executable, "-m", "itsm_notifications", "migrate"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "ITSM_NOTIFICATIONS_DATABASE_URL": url})
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_finished_deliveries_older_than_the_retention_go_with_their_attempts_and_nothing_else(sessions):
    now = utcnow()
    old, recent = now - timedelta(days=100), now - timedelta(days=10)
    made = {}
    async with sessions() as session, session.begin():
        for name, state, at in [("old sent", "sent", old), ("old dead", "dead", old), ("old skipped", "skipped", old),
                                ("old digested", "digested", old), ("old pending", "pending", old),
                                ("old held", "held", old), ("old sending", "sending", old),
                                ("recent sent", "sent", recent)]:
            made[name] = delivery_id = str(uuid.uuid4())
            await session.execute(insert(deliveries).values(
                id=delivery_id, dedup_key=f"t:{delivery_id}", event_type="itsm.test", channel="webhook",
                endpoint_id="e", breaker_key="e", recipient="r", urgency="high", state=state, attempts=1,
                next_attempt_at=at, subject="s", body="b", created_at=at, updated_at=at))
            await session.execute(insert(delivery_attempts).values(
                delivery_id=delivery_id, number=1, at=at, outcome="sent", duration_ms=3))
        await session.execute(insert(connector_receipts), [
            {"endpoint_id": "e", "event_id": "old", "received_at": old},
            {"endpoint_id": "e", "event_id": "recent", "received_at": recent}])

    before = now - timedelta(days=90)
    assert await prune_deliveries(UnitOfWork(sessions, Outbox("itsm/notifications")), before, 2) == 2  # a batch
    while await prune_deliveries(UnitOfWork(sessions, Outbox("itsm/notifications")), before, 2):
        pass

    async with sessions() as session:
        kept = set((await session.scalars(select(deliveries.c.id).where(deliveries.c.id.in_(made.values())))).all())
        attempts = await session.scalar(select(func.count()).select_from(delivery_attempts)
                                        .where(delivery_attempts.c.delivery_id.in_(made.values())))
        receipts = set((await session.scalars(select(connector_receipts.c.event_id))).all())
    assert {name for name, ident in made.items() if ident in kept} == {
        "old pending", "old held", "old sending", "recent sent"}, "only what may still be sent, and the recent"
    assert attempts == 4, "the attempts went with their deliveries"
    assert receipts == {"recent"}
