"""Where a monitoring system may put its integration key: headers only, never the URL (`?key=`), which
proxies and access logs keep."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.alerts import alert, alertmanager_batch

pytestmark = pytest.mark.e2e

WEBHOOK = "/api/v1/integrations/alertmanager"


@pytest.fixture
async def sender(platform):
    """A monitoring system: no user token, only what each call sends."""
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30) as client:
        yield client


def batch() -> dict:
    return alertmanager_batch([alert(f"placement-{uuid.uuid4().hex[:12]}")])


async def test_a_key_in_the_url_is_refused_with_how_to_send_it(sender, integration_key):
    refused = await sender.post(WEBHOOK, params={"key": integration_key}, json=batch())
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    detail = refused.json()["detail"]
    assert "URL" in detail and "Authorization: Bearer" in detail and "replace" in detail
    assert integration_key not in refused.text


@pytest.mark.parametrize("how", ["bearer", "x-integration-key", "basic"])
async def test_a_key_in_a_header_is_taken(sender, integration_key, how):
    headers = {"bearer": {"authorization": f"Bearer {integration_key}"},
               "x-integration-key": {"x-integration-key": integration_key}}.get(how, {})
    auth = ("alertmanager", integration_key) if how == "basic" else None
    accepted = await sender.post(WEBHOOK, headers=headers, auth=auth, json=batch())
    assert accepted.status_code == 202, accepted.text
