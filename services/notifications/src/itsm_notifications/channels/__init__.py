"""How a delivery leaves: one sender per channel, all behind the same small interface.

The dispatcher (itsm_notifications.dispatcher) claims due deliveries and hands each to its channel's sender as an
`Outgoing`; the sender makes one attempt and says how it went as an `Outcome`. Senders never touch the database;
a channel that must remember something of the receiver's answer (a connector's external id) does it in its
`after` step, which the dispatcher runs in the transaction that records the attempt.

A delivery's `payload` (JSON, written when the delivery is made, itsm_notifications.handlers.pipeline) is
    {"notification": {"id", "subject", "text", "urgency", "url"},
     "event": {the CloudEvent as published: specversion, id, source, type, subject, time, sequence, data},
     "record": {"type", "id", "number", "title", "priority", "state", "assignment_group", "assignee"} | null}
which a webhook sends as it is, and chat and connector senders turn into their receiver's format.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_notifications.domain.deliveries import retry_after_seconds


@dataclass(frozen=True)
class Endpoint:
    """Where a slack, teams, webhook, pagerduty or jira delivery goes (the endpoints table)."""

    id: str
    name: str
    kind: str
    url: str
    secret: str | None
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Outgoing:
    """One attempt's worth of a delivery."""

    id: str  # stable across attempts: the webhook-id, the e-mail's Message-ID
    channel: str
    recipient: str  # an e-mail address, or the endpoint's name
    subject: str
    body: str
    payload: Mapping[str, Any] | None
    created_at: datetime
    attempt: int  # 1 for the first
    endpoint: Endpoint | None  # None for e-mail
    record_type: str | None = None
    record_id: str | None = None
    # Connectors: the tool's id of the record (Jira issue key), from external_links when the delivery is claimed.
    external_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    sent: bool
    status: int | None = None  # the receiver's HTTP status or SMTP reply code
    error: str | None = None  # why it failed, short, for the delivery log (never a secret)
    retry_after: float | None = None  # seconds the receiver asked us to wait (Retry-After, SMTP 4xx has none)
    permanent: bool = False  # retrying cannot help (a 4xx other than 408/429, a refused address): dead at once
    skipped: bool = False  # nothing needed sending (a connector that already has this state): not an attempt
    external_id: str | None = None  # connectors: the tool's id of the record, once it answered with one
    external_url: str | None = None


Send = Callable[[Outgoing], Awaitable[Outcome]]
After = Callable[[AsyncSession, Outgoing, Outcome], Awaitable[None]]


@dataclass(frozen=True)
class Channel:
    send: Send
    # Run in the transaction that records a sent (or skipped) attempt, e.g. to remember the external id.
    after: After | None = None
    # Deliveries to one endpoint of this channel go one at a time, oldest first, per record (a connector's
    # trigger must reach PagerDuty before its resolve).
    ordered: bool = False


def failed_http(status: int, headers: Mapping[str, str], text: str = "") -> Outcome:
    """An HTTP answer other than 2xx as an Outcome: 408, 425, 429 and 5xx are worth retrying, the rest is not."""
    retryable = status in (408, 425, 429) or status >= 500
    return Outcome(sent=False, status=status, error=f"HTTP {status} {text[:200]}".strip(), permanent=not retryable,
                   retry_after=retry_after_seconds(headers.get("retry-after")))
