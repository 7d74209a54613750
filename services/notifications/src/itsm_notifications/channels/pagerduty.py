"""PagerDuty Events API v2 sender (issue 16, connectors helper): trigger, acknowledge, resolve by dedup key.

The delivery's payload (handlers.connectors.outbound) names the action and the record; the Events API body is made
here, with the routing key from the endpoint (a secret, so never stored in a delivery) and the portal link.
"""

from __future__ import annotations

import httpx
import orjson

from itsm_notifications.channels import Channel, Outcome, Outgoing
from itsm_notifications.channels.webhook import post
from itsm_notifications.domain.connectors import pagerduty_event


def pagerduty_channel(settings, http: httpx.AsyncClient) -> Channel:
    async def send(outgoing: Outgoing) -> Outcome:
        endpoint, payload = outgoing.endpoint, outgoing.payload or {}
        if endpoint is None or not endpoint.secret:
            return Outcome(sent=False, error="the PagerDuty endpoint has no routing key", permanent=True)
        body = pagerduty_event(payload["event_action"], record=payload.get("record") or {},
                               record_type=payload["record_type"], record_id=payload["record_id"],
                               portal_url=settings.portal_url, source=payload.get("source") or "itsm")
        # PagerDuty answers 202.
        return await post(http, endpoint.url, orjson.dumps({"routing_key": endpoint.secret, **body}), {})

    # One record's calls in order: a resolve that overtook its trigger would leave PagerDuty paging.
    return Channel(send=send, ordered=True)
