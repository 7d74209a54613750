"""Rate limits at the gateway, and its integration key cache as another replica sees it.

Each test runs a gateway replica of its own (same database and broker as the platform's) with
small limits or a short key cache TTL, so the platform's gateway keeps its defaults.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from itsm_contracts import topics
from tests.alerts import alert, alertmanager_batch, fingerprints, generic_alert, pagerduty_event
from tests.helpers import gateway_replica, token, topic_end_offsets

pytestmark = pytest.mark.e2e

INTEGRATIONS = "/api/v1/integrations"
ALERTMANAGER = "/api/v1/integrations/alertmanager"
GENERIC = "/api/v1/integrations/generic"


async def create(gateway: httpx.AsyncClient, kind: str, **policy) -> tuple[dict, str]:
    response = await gateway.post(INTEGRATIONS, json={"name": f"limits-{kind}-{uuid.uuid4().hex[:6]}", "kind": kind,
                                                      **policy})
    assert response.status_code == 201, response.text
    body = response.json()
    return body, body.pop("key")


def assert_refused(response: httpx.Response, status: int, content_type: str = "application/problem+json") -> int:
    """The refusal's Retry-After, in whole seconds."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == content_type
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


async def test_an_integration_over_its_alert_rate_is_refused_whole_as_its_sender_retries(platform, gateway, infra):
    """Alertmanager retries a 5xx and drops a 4xx: it gets 503. PagerDuty clients get PagerDuty's 429."""
    _, am_key = await create(gateway, "alertmanager")
    _, pd_key = await create(gateway, "pagerduty")
    with gateway_replica(platform, "gateway-limited-alerts", 10, alert_rate_per_second=2, alert_burst=4) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as sender:
            batch = fingerprints(6)
            headers = {"x-integration-key": am_key}
            first = await sender.post(ALERTMANAGER, json=alertmanager_batch([alert(fp) for fp in batch[:3]]),
                                      headers=headers)
            assert first.status_code == 202, first.text

            before = await topic_end_offsets(infra["ITSM_KAFKA_BOOTSTRAP"], topics.ALERTS)
            second = alertmanager_batch([alert(fp) for fp in batch[3:]])
            refused = await sender.post(ALERTMANAGER, json=second, headers=headers)
            wait = assert_refused(refused, 503)
            assert "alerts/s" in refused.json()["detail"]
            assert await topic_end_offsets(infra["ITSM_KAFKA_BOOTSTRAP"], topics.ALERTS) == before  # none of it

            await asyncio.sleep(wait)  # as the sender does: Retry-After is enough
            retried = await sender.post(ALERTMANAGER, json=second, headers=headers)
            assert retried.status_code == 202, retried.text

            events = [await sender.post("/v2/enqueue", json=pagerduty_event(pd_key, dedup_key=f"pd-{n}"))
                      for n in range(5)]
            assert [e.status_code for e in events[:4]] == [202] * 4
            assert_refused(events[4], 429, "application/json")
            assert events[4].json()["status"] == "Too Many Requests" and "alerts/s" in events[4].json()["message"]


async def test_failed_authentications_are_limited_per_source_address(platform, gateway):
    _, known_key = await create(gateway, "alertmanager")
    _, unseen_key = await create(gateway, "alertmanager")
    body = alertmanager_batch([alert(fp) for fp in fingerprints(1)])
    with gateway_replica(platform, "gateway-limited-auth", 20, failed_auth_rate_per_second=0.01,
                         failed_auth_burst=3) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as sender:
            assert (await sender.post(ALERTMANAGER, json=body,
                                      headers={"x-integration-key": known_key})).status_code == 202
            for n in range(3):
                bogus = await sender.post(ALERTMANAGER, json=body, headers={"x-integration-key": f"itsm_bogus{n}"})
                assert bogus.status_code == 401
            assert (await sender.post(ALERTMANAGER, json=body)).status_code == 401  # no key at all: not counted

            # Used up: refused before the key costs a query, as each kind of caller understands it.
            assert_refused(await sender.post(ALERTMANAGER, json=body, headers={"x-integration-key": "itsm_bogus9"}),
                           503)
            pagerduty = await sender.post("/v2/enqueue", json=pagerduty_event("0" * 32, dedup_key="x"))
            assert_refused(pagerduty, 429, "application/json")
            forged = {"authorization": f"Bearer {token()[:-4]}AAAA"}
            assert_refused(await sender.get(INTEGRATIONS, headers=forged), 429)
            # A key that has not been confirmed here waits too: from this address, it could be one more guess.
            assert_refused(await sender.post(ALERTMANAGER, json=body, headers={"x-integration-key": unseen_key}), 503)

            # Callers whose credentials are good are not held back by a bad neighbour at the same address.
            assert (await sender.post(ALERTMANAGER, json=body,
                                      headers={"x-integration-key": known_key})).status_code == 202
            admin = {"authorization": f"Bearer {token()}"}
            assert (await sender.get(INTEGRATIONS, headers=admin)).status_code == 200


async def test_revocations_and_policy_changes_reach_another_replica_within_the_key_cache_ttl(platform, gateway):
    integration, key = await create(gateway, "generic")
    url = f"{INTEGRATIONS}/{integration['id']}"
    headers = {"x-integration-key": key}
    with gateway_replica(platform, "gateway-short-key-cache", 30, key_cache_seconds=1) as replica_url:
        async with httpx.AsyncClient(base_url=replica_url, timeout=30) as replica:
            async def dedup_key() -> str | int:
                answer = await replica.post(GENERIC, json=generic_alert(labels={"job": "backup"}), headers=headers)
                return answer.json()["dedup_keys"][0] if answer.status_code == 202 else answer.status_code

            assert "v2-backup" not in await dedup_key()  # the replica has the key and policy cached now
            assert (await gateway.patch(url, json={"dedup_key_template": "v2-{job}"})).status_code == 200
            changed = time.monotonic()
            while "v2-backup" not in str(await dedup_key()):
                assert time.monotonic() - changed < 1 + 1.5, "the replica kept the old policy past the TTL"
                await asyncio.sleep(0.05)

            # The replica that revokes refuses the key at once; another one within the TTL.
            assert (await gateway.post(GENERIC, json=generic_alert(), headers=headers)).status_code == 202
            assert (await gateway.delete(url)).status_code == 204
            revoked = time.monotonic()
            assert (await gateway.post(GENERIC, json=generic_alert(), headers=headers)).status_code == 401
            while (status := await dedup_key()) != 401:
                assert isinstance(status, str), status
                assert time.monotonic() - revoked < 1 + 1.5, "the replica accepted a revoked key past the TTL"
                await asyncio.sleep(0.05)


async def test_badly_signed_connector_webhooks_count_as_failed_authentications(platform, gateway):
    created = await gateway.post("/api/v1/endpoints", json={
        "name": f"pagerduty-{uuid.uuid4().hex[:8]}", "kind": "pagerduty", "url": "http://127.0.0.1:9/v2/enqueue",
        "secret": "routing-key-0123456789abcdef", "inbound_secret": "tool-signing-secret-0123456789"})
    assert created.status_code == 201, created.text
    path = f"/api/v1/connectors/{created.json()['id']}/pagerduty-webhooks"
    body = b'{"event": {"id": "1", "event_type": "incident.acknowledged", "data": {"id": "Q1", "incident_key": "k"}}}'
    with gateway_replica(platform, "gateway-limited-webhooks", 30, failed_auth_rate_per_second=0.01,
                         failed_auth_burst=2) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as tool:
            for n in range(2):
                forged = await tool.post(path, content=body, headers={"x-pagerduty-signature": f"v1={n:064x}"})
                assert forged.status_code == 401, forged.text
            # Used up: refused before the notifications service looks the endpoint up and checks a MAC.
            assert_refused(await tool.post(path, content=body, headers={"x-pagerduty-signature": "v1=" + "f" * 64}),
                           429)
