"""Issue 16: an SLA breach reaches the escalation group once, even when the notifications service is killed with
SIGKILL while it sends the mail, and started again."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.e2e.test_notifications_reach_people import group_with_members
from tests.helpers import database_scalar, eventually

pytestmark = pytest.mark.e2e


async def test_a_breach_mails_the_escalation_group_once_across_a_kill_mid_send(platform, gateway, mail):
    run = uuid.uuid4().hex[:8]
    group, service = f"major-incidents-{run}", f"svc-{run}"
    addresses = await group_with_members(gateway, group, f"dee-{run}", f"eli-{run}")
    definition = await gateway.post("/api/v1/sla/definitions", json={
        "name": f"SLA {service}", "applies_to": {"business_services": [service]},
        "resolution": {"target": "PT2S"}, "escalation_group": group})
    assert definition.status_code == 201, definition.text

    mail.hold_seconds = 30  # the relay takes the data and holds its answer: the service is mid-send
    try:
        opened = await gateway.post("/api/v1/incidents", json={
            "short_description": f"breach {run}", "business_service": service, "impact": 3, "urgency": 3})
        assert opened.status_code == 201, opened.text
        incident = opened.json()

        async def mid_send() -> None:
            assert any(mail.arrived_for(address) for address in addresses)

        await eventually(mid_send, timeout=30)
        await asyncio.to_thread(platform.kill, "notifications")
    finally:
        mail.hold_seconds = 0
    assert not any(mail.to(address) for address in addresses), "nothing was confirmed before the kill"
    await asyncio.to_thread(platform.start, ["notifications"])

    async def mailed() -> None:
        for address in addresses:
            assert len(mail.to(address)) == 1, f"{address}: {len(mail.to(address))} messages"

    await eventually(mailed, timeout=60)
    await asyncio.sleep(3)  # a second copy, were one on its way, would arrive now
    for address in addresses:
        [message] = mail.to(address)
        assert incident["number"] in message["subject"]
    sent = await database_scalar("notifications", """
        SELECT count(*) FROM deliveries WHERE record_id = $1 AND event_type = 'itsm.sla.breached'
        AND state = 'sent'""", incident["id"])
    assert sent == len(addresses)
