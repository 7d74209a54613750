"""Slack- and Microsoft Teams-compatible incoming webhooks: the rendered subject and text in each one's format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from itsm_notifications.channels import Channel, Outcome, Outgoing
from itsm_notifications.channels.webhook import post


def slack_message(out: Outgoing) -> dict[str, Any]:
    return {"text": f"{out.subject}\n{out.body}"}


def teams_card(out: Outgoing) -> dict[str, Any]:
    return {"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": out.subject,
            "title": out.subject, "text": out.body}


def _channel(http: httpx.AsyncClient, shape: Callable[[Outgoing], dict[str, Any]]) -> Channel:
    async def send(out: Outgoing) -> Outcome:
        if out.endpoint is None:
            return Outcome(sent=False, error="the endpoint is gone", permanent=True)
        return await post(http, out.endpoint.url, orjson.dumps(shape(out)), {})

    return Channel(send)


def slack(http: httpx.AsyncClient) -> Channel:
    return _channel(http, slack_message)


def teams(http: httpx.AsyncClient) -> Channel:
    return _channel(http, teams_card)
