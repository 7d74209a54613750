"""Generic webhooks, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature), so that
receivers verify them with any of that specification's libraries and deduplicate on webhook-id (the delivery's
id: the same on every attempt). Also the one HTTP call every HTTP channel makes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import httpx
import orjson
from standardwebhooks import Webhook

from itsm_kit.clock import utcnow
from itsm_notifications.channels import Channel, Outcome, Outgoing, failed_http


def _sent(response: httpx.Response) -> Outcome:
    return Outcome(sent=True, status=response.status_code)


async def post(http: httpx.AsyncClient, url: str, content: bytes, headers: Mapping[str, str], *,
               auth: tuple[str, str] | None = None, sent: Callable[[httpx.Response], Outcome] = _sent) -> Outcome:
    """One POST of JSON: 2xx is `sent` (what the receiver answered may matter: a connector's external id); another
    status is failed_http's; no answer (refused, reset, timed out) is retried."""
    try:
        async with asyncio.timeout(http.timeout.read):  # connect to last byte, not per read
            response = await http.post(url, content=content, auth=auth,
                                       headers={"content-type": "application/json", **headers})
    except TimeoutError:
        return Outcome(sent=False, error="timed out")
    except httpx.HTTPError as exc:
        return Outcome(sent=False, error=f"{type(exc).__name__}: {str(exc)[:200]}".rstrip(": "))
    if 200 <= response.status_code < 300:
        return sent(response)
    return failed_http(response.status_code, response.headers, response.text)


def body_of(out: Outgoing) -> bytes:
    payload = out.payload if out.payload is not None else {
        "notification": {"id": out.id, "subject": out.subject, "text": out.body}}
    return orjson.dumps(payload)


def signed_headers(secret: str, msg_id: str, body: bytes) -> dict[str, str]:
    now = utcnow()
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id=msg_id, timestamp=now, data=body)}


def channel(http: httpx.AsyncClient) -> Channel:
    async def send(out: Outgoing) -> Outcome:
        endpoint = out.endpoint
        if endpoint is None or not endpoint.secret:
            return Outcome(sent=False, error="the webhook endpoint is gone or has no signing secret", permanent=True)
        body = body_of(out)
        return await post(http, endpoint.url, body, signed_headers(endpoint.secret, out.id, body))

    return Channel(send)
