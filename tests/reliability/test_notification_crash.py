"""An e-mail whose sender is killed (SIGKILL) mid-send reaches its recipient once: the SMTP server had not
confirmed it, so it kept nothing; the delivery's lease runs out after the restart and it is sent again, with the
same Message-ID."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.helpers import eventually, notification_delivery

pytestmark = pytest.mark.e2e


async def test_an_email_killed_mid_send_arrives_exactly_once(platform, gateway, mail):
    address = f"crash-{uuid.uuid4().hex[:8]}@example.org"
    mail.receiving.clear()
    mail.hold_seconds = 10
    try:
        delivery_id = await notification_delivery("email", address)
        assert await asyncio.to_thread(mail.receiving.wait, 30), "the message never reached the SMTP server"
        platform.kill("notifications")
    finally:
        mail.hold_seconds = 0
    assert mail.to(address) == []  # not confirmed: not kept
    await asyncio.to_thread(platform.start, ["notifications"])

    async def sent() -> dict:
        response = await gateway.get(f"/api/v1/deliveries/{delivery_id}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "sent", response.json()
        return response.json()

    delivered = await eventually(sent, timeout=60)
    await asyncio.sleep(1)  # time for a second copy, were one on its way
    [message] = mail.to(address)
    assert message["Message-ID"] == f"<{delivery_id}@itsm>"
    assert [a["outcome"] for a in delivered["attempts_log"]] == ["sent"]  # the killed attempt recorded nothing


# --- claims: replicas share the work, receivers get their share, breakers and order hold ------------------------
# Against a notifications database of its own, through the dispatcher's own handlers (as any replica calls them).

@pytest.fixture(scope="module")
async def claims(infra):
    import os
    import subprocess
    import sys

    from itsm_kit.db import make_engine, make_sessionmaker
    from itsm_kit.outbox import Outbox
    from itsm_kit.unit_of_work import UnitOfWork
    from tests.helpers import fresh_database

    url = await fresh_database("itsm_notifications_claims")
    subprocess.run([sys.executable, "-m", "itsm_notifications", "migrate"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "ITSM_NOTIFICATIONS_DATABASE_URL": url})
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    sessions = make_sessionmaker(engine)
    yield sessions, lambda: UnitOfWork(sessions, Outbox("itsm/notifications"))
    await engine.dispose()


async def add_due(sessions, count: int, *, key: str, channel: str = "webhook", record_id: str | None = None) -> list:
    from sqlalchemy import insert

    from itsm_kit.clock import utcnow
    from itsm_notifications.store.tables import deliveries

    made = []
    async with sessions() as session, session.begin():
        for _ in range(count):
            delivery_id = str(uuid.uuid4())
            now = utcnow()
            await session.execute(insert(deliveries).values(
                id=delivery_id, dedup_key=f"t:{delivery_id}", event_type="itsm.test", channel=channel,
                endpoint_id=None if channel == "email" else key, breaker_key=key, recipient="r", urgency="high",
                state="pending", attempts=0, next_attempt_at=now, subject="s", body="b", created_at=now,
                updated_at=now, record_type="incident" if record_id else None, record_id=record_id))
            made.append(delivery_id)
    return made


async def claim(uow, *, limit: int = 100, per_receiver: int = 8, lease_seconds: float = 60, ordered=(),
                smtp: bool = True, channels=("email", "webhook", "jira")):
    from itsm_notifications.domain.deliveries import BreakerPolicy
    from itsm_notifications.handlers.deliveries import claim_due

    taken, lease_until, _ = await claim_due(uow, limit=limit, lease_seconds=lease_seconds, per_receiver=per_receiver,
                                            channels=list(channels), ordered=list(ordered), smtp_configured=smtp,
                                            breaker_policy=BreakerPolicy(5, 1, 2, lease_seconds))
    return [row["id"] for row in taken], lease_until


async def test_replicas_claiming_at_once_never_take_one_delivery_twice_nor_overfill_a_receiver(claims):
    sessions, unit = claims
    keys = [f"k-{uuid.uuid4().hex[:6]}" for _ in range(6)]
    made = {key: await add_due(sessions, 12, key=key) for key in keys}
    results = await asyncio.gather(*(claim(unit(), limit=10, per_receiver=4) for _ in range(5)))
    taken = [i for ids, _ in results for i in ids]
    assert len(taken) == len(set(taken)) == 24  # 6 receivers x 4 in flight each, across the five claims
    for key in keys:
        assert len(set(made[key]) & set(taken)) == 4
    assert (await claim(unit(), per_receiver=4))[0] == []  # every receiver has its share in flight


async def test_a_lease_that_ran_out_is_claimed_again_and_the_lost_claim_records_nothing(claims):
    from itsm_notifications.channels import Outcome
    from itsm_notifications.domain.deliveries import BreakerPolicy, RetryPolicy
    from itsm_notifications.handlers.deliveries import Attempt, record_outcomes

    sessions, unit = claims
    key, other = f"k-{uuid.uuid4().hex[:6]}", f"k-{uuid.uuid4().hex[:6]}"
    [delivery_id] = await add_due(sessions, 1, key=key)
    first, first_lease = await claim(unit(), lease_seconds=0.05)
    assert delivery_id in first
    await asyncio.sleep(0.1)
    again, _ = await claim(unit())
    assert delivery_id in again  # its replica is presumed dead
    [held_id] = await add_due(sessions, 1, key=other)
    [held], held_lease = await claim(unit())
    assert held == held_id
    sent = Outcome(sent=True, status=200)
    lost, recorded = await record_outcomes(unit(), [
        Attempt({"id": delivery_id, "attempts": 0, "breaker_key": key}, first_lease, None, sent, 5),
        Attempt({"id": held_id, "attempts": 0, "breaker_key": other}, held_lease, None, sent, 5),
    ], retry=RetryPolicy(1, 1, 1, 3), breaker_policy=BreakerPolicy(5, 1, 2, 1))
    assert lost is None, "the claim that lost its lease records nothing"
    assert recorded is not None and recorded.state == "sent", "the one recorded beside it in the same batch"


async def test_an_open_breaker_holds_its_deliveries_then_lets_one_probe_through(claims):
    from sqlalchemy import insert, update

    from itsm_kit.clock import utcnow
    from itsm_notifications.store.tables import breakers

    sessions, unit = claims
    key = f"k-{uuid.uuid4().hex[:6]}"
    await add_due(sessions, 3, key=key)
    async with sessions() as session, session.begin():
        await session.execute(insert(breakers).values(key=key, state="open", failures=5, opened_count=1,
                                                      retry_at=utcnow() + timedelta(hours=1), updated_at=utcnow()))
    assert (await claim(unit()))[0] == []
    async with sessions() as session, session.begin():
        await session.execute(update(breakers).where(breakers.c.key == key).values(retry_at=utcnow()))
    probe, _ = await claim(unit())
    assert len(probe) == 1
    assert (await claim(unit()))[0] == []  # one probe at a time
    async with sessions() as session:
        assert (await session.execute(breakers.select().where(breakers.c.key == key))).one().state == "half_open"


async def test_an_ordered_channel_sends_one_delivery_of_a_record_at_a_time_oldest_first(claims):
    sessions, unit = claims
    key = f"k-{uuid.uuid4().hex[:6]}"
    first_record = await add_due(sessions, 3, key=key, channel="jira", record_id="inc-1")
    other_record = await add_due(sessions, 2, key=key, channel="jira", record_id="inc-2")
    taken, _ = await claim(unit(), ordered=["jira"])
    assert sorted(taken) == sorted([first_record[0], other_record[0]])
    assert (await claim(unit(), ordered=["jira"]))[0] == []


async def test_email_waits_with_the_reason_while_no_smtp_relay_is_configured(claims):
    sessions, unit = claims
    [delivery_id] = await add_due(sessions, 1, key="smtp", channel="email")
    assert delivery_id not in (await claim(unit(), smtp=False))[0]
    from itsm_notifications.handlers.deliveries import get_delivery

    waiting = await get_delivery(unit(), delivery_id)
    assert (waiting["state"], waiting["attempts"], waiting["attempts_log"]) == ("pending", 0, [])
    assert "ITSM_NOTIFICATIONS_SMTP_HOST" in waiting["last_error"]
