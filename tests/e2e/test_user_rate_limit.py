"""Requests per signed-in user are limited at the gateway: past their burst a user gets a 429 problem with
Retry-After, and may go on after it; another user is not held back. (A gateway replica with small limits,
so the platform's keeps its defaults.)"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.helpers import gateway_replica, token

pytestmark = pytest.mark.e2e

INTEGRATIONS = "/api/v1/integrations"  # the gateway's own records: the replica runs no services behind it


async def test_a_user_past_their_rate_gets_429_with_retry_after(platform):
    tag = uuid.uuid4().hex[:6]
    with gateway_replica(platform, "gateway-limited-users", 70, user_rate_per_second=1, user_burst=3) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            ann = {"authorization": f"Bearer {token(f'ann-{tag}', roles=['admin'])}"}
            bob = {"authorization": f"Bearer {token(f'bob-{tag}', roles=['admin'])}"}
            answers = [await client.get(INTEGRATIONS, headers=ann) for _ in range(4)]
            assert [a.status_code for a in answers[:3]] == [200] * 3
            refused = answers[3]
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            wait = int(refused.headers["retry-after"])
            assert wait >= 1 and "requests/s" in refused.json()["detail"]
            assert (await client.get(INTEGRATIONS, headers=bob)).status_code == 200
            await asyncio.sleep(wait)
            assert (await client.get(INTEGRATIONS, headers=ann)).status_code == 200
