"""Issue 16's promise, end to end against the real services, Kafka, PostgreSQL and an SMTP server: people hear
about what matters. A P1 opened from a monitoring alert e-mails its assignment group's members within seconds."""

from __future__ import annotations

import uuid

import pytest

from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def group_with_members(gateway, name: str, *usernames: str) -> list[str]:
    """A directory group whose members have e-mail addresses; their addresses."""
    addresses = []
    for username in usernames:
        email = f"{username}@example.test"
        created = await gateway.post("/api/v1/people", json={"username": username, "name": username.title(),
                                                             "email": email, "timezone": "Europe/Paris"})
        assert created.status_code == 201, created.text
        addresses.append(email)
    created = await gateway.post("/api/v1/groups", json={"name": name, "members": list(usernames)})
    assert created.status_code == 201, created.text
    return addresses


async def test_a_p1_from_an_alert_emails_its_assignment_group(gateway, mail):
    run = uuid.uuid4().hex[:8]
    group = f"web-ops-{run}"
    addresses = await group_with_members(gateway, group, f"ana-{run}", f"ben-{run}")
    outsider = await group_with_members(gateway, f"db-ops-{run}", f"cy-{run}")
    integration = await gateway.post("/api/v1/integrations", json={
        "name": f"prometheus-{run}", "kind": "alertmanager",
        "routing_rules": [{"name": "web", "match": {"job": "checkout"}, "set": {"assignment_group": group}}]})
    assert integration.status_code == 201, integration.text
    [fingerprint] = fingerprints(1)

    accepted = await gateway.post("/api/v1/integrations/alertmanager",
                                  json=alertmanager_batch([alert(fingerprint, severity="critical")]),
                                  headers={"authorization": f"Bearer {integration.json()['key']}"})
    assert accepted.status_code == 202, accepted.text

    async def opened() -> dict:
        found = (await gateway.get("/api/v1/incidents", params={"dedup_key": fingerprint})).json()["items"]
        assert len(found) == 1, found
        return found[0]

    incident = await eventually(opened)
    assert incident["priority"] == 1 and incident["assignment_group"] == group

    async def mailed() -> list:
        received = [mail.to(address) for address in addresses]
        assert all(received), f"{[len(r) for r in received]} messages to {addresses}"
        return [message for messages in received for message in messages]

    messages = await eventually(mailed, timeout=15)
    assert len(messages) == len(addresses), "one message per member"
    for message in messages:
        assert incident["number"] in message["subject"]
        assert message["message-id"]
        assert incident["id"] in message.get_content(), "the message links to the incident"
    assert mail.to(outsider[0]) == [], "only the assignment group hears of it"
