"""PagerDuty Events API v2 events (POST /v2/enqueue), as normalized alerts.

https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
The same body a sender posts to PagerDuty: the routing_key is the integration key; a trigger
opens or repeats the alert named by dedup_key; acknowledge and resolve name it by dedup_key
and carry nothing else PagerDuty uses.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from itsm_contracts.events.alerts import AlertReceived, AlertStatus, Severity
from itsm_gateway.domain.common import (
    DEFAULT_SEVERITY, MAX_ANNOTATIONS, MAX_DEDUP_KEY, MAX_NAME, LabelValue, real_time,
)

ACTION_STATUS: dict[str, AlertStatus] = {"trigger": "firing", "acknowledge": "acknowledged", "resolve": "resolved"}
# PagerDuty's documented limit: a longer summary is an invalid event there (400), and senders rely on that.
MAX_SUMMARY = 1024


class PagerDutyPayload(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    summary: str = Field(min_length=1, max_length=MAX_SUMMARY)
    source: str = Field(min_length=1, max_length=255)
    severity: Severity
    timestamp: datetime | None = None
    # These become labels, which routing rules read: bounded as labels are.
    component: LabelValue | None = None
    group: LabelValue | None = None
    class_: LabelValue | None = Field(default=None, alias="class")
    custom_details: Any = None


class PagerDutyLink(BaseModel):
    href: str
    text: str | None = None


class PagerDutyImage(BaseModel):
    src: str
    href: str | None = None
    alt: str | None = None


class _PagerDutyEventBase(BaseModel):
    model_config = ConfigDict(extra="allow")

    routing_key: str = Field(min_length=1, max_length=200)
    client: str | None = None
    client_url: str | None = None
    links: list[PagerDutyLink] = []
    images: list[PagerDutyImage] = []


class PagerDutyTrigger(_PagerDutyEventBase):
    event_action: Literal["trigger"]
    dedup_key: str | None = Field(default=None, min_length=1, max_length=MAX_DEDUP_KEY,
                                  description="generated, and returned, when missing")
    payload: PagerDutyPayload


class PagerDutyUpdate(_PagerDutyEventBase):
    """acknowledge or resolve: PagerDuty ignores any payload of these, so we do not check it."""

    event_action: Literal["acknowledge", "resolve"]
    dedup_key: str = Field(min_length=1, max_length=MAX_DEDUP_KEY)
    payload: dict[str, Any] | None = None


PagerDutyEvent = Annotated[PagerDutyTrigger | PagerDutyUpdate, Field(discriminator="event_action")]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _few_short_names(details: dict[str, Any]) -> bool:
    """Details that fit as annotations of their own (client, links and images may join them)."""
    return len(details) <= MAX_ANNOTATIONS - 3 and all(len(str(name)) <= MAX_NAME for name in details)


def from_pagerduty(event: PagerDutyTrigger | PagerDutyUpdate, integration_id: str, received_at: datetime,
                   generated_dedup_key: str) -> AlertReceived:
    """`generated_dedup_key` names a trigger that came without one (and is returned to the sender)."""
    payload = event.payload if isinstance(event, PagerDutyTrigger) else None
    dedup_key = event.dedup_key or generated_dedup_key
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if payload is not None:
        # Routing rules, storm labels and dedup templates read labels: PagerDuty's fields are those.
        labels = {name: value for name, value in (("source", payload.source), ("component", payload.component),
                                                  ("group", payload.group), ("class", payload.class_)) if value}
        details = payload.custom_details
        if isinstance(details, dict) and _few_short_names(details):
            annotations.update({str(name): _text(value) for name, value in details.items()})
        elif details is not None:  # PagerDuty takes any JSON here: kept whole, as one annotation
            annotations["details"] = _text(details)
    if event.client:
        annotations["client"] = event.client
    if event.links:
        annotations["links"] = _text([link.model_dump(exclude_none=True) for link in event.links])
    if event.images:
        annotations["images"] = _text([image.model_dump(exclude_none=True) for image in event.images])
    return AlertReceived(
        integration_id=integration_id,
        integration_kind="pagerduty",
        dedup_key=dedup_key,
        status=ACTION_STATUS[event.event_action],
        severity=payload.severity if payload else DEFAULT_SEVERITY,
        summary=payload.summary if payload else f"{event.event_action} of {dedup_key}",
        source=payload.source if payload else "",
        labels=labels,
        annotations=annotations,
        starts_at=real_time(payload.timestamp) if payload else None,
        generator_url=event.client_url,
        received_at=received_at,
    )
