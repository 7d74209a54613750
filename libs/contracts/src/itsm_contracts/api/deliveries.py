"""Notification endpoints, the delivery log and redrive, as the notifications service serves them and the gateway
re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.incidents import Name
from itsm_contracts.api.values import RecordId

EndpointKind = Literal["slack", "teams", "webhook", "pagerduty", "jira"]
DeliveryState = Literal["pending", "sending", "sent", "dead", "skipped", "held", "digested"]
DeliveryChannel = Literal["email", "slack", "teams", "webhook", "pagerduty", "jira"]
Url = Annotated[str, Field(min_length=1, max_length=2048, description="http(s) only")]
Secret = Annotated[str, Field(min_length=1, max_length=1024, description="write-only: never shown again")]
Options = Annotated[dict[str, Any], Field(description="per kind (a Jira project, a severity map): a JSON object, "
                                                      "at most 8 KiB")]
MAX_REDRIVE = 1000  # dead deliveries one POST /deliveries/redrive puts back


class EndpointCreate(BaseModel):
    """A receiver: a Slack or Teams incoming webhook, a generic webhook (signed per Standard Webhooks), PagerDuty,
    Jira. A webhook without a secret gets one, shown once in the answer."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: EndpointKind
    url: Url
    secret: Secret | None = Field(default=None, description="webhook: a whsec_ secret; PagerDuty: the routing key; "
                                                            "Jira: the API token. Write-only")
    inbound_secret: Secret | None = Field(default=None, description="what the tool signs its webhooks to us with. "
                                                                    "Write-only")
    options: Options = {}
    enabled: bool = True


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    url: Url | None = None
    secret: Secret | None = None
    inbound_secret: Secret | None = None
    options: Options | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _something_sent(self) -> EndpointUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_unset=True)


class EndpointPublic(BaseModel):
    id: str
    name: str
    kind: EndpointKind
    url: str
    has_secret: bool = Field(description="a secret is set (it is never shown)")
    has_inbound_secret: bool
    options: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag")


class EndpointCreated(EndpointPublic):
    secret: str | None = Field(default=None, description="the signing secret made for a webhook created without "
                                                         "one: shown this once")


class EndpointList(BaseModel):
    items: list[EndpointPublic]


class EndpointHealth(BaseModel):
    """How an endpoint's receiver fares: its circuit breaker and what waits for it."""

    endpoint_id: str
    breaker: Literal["closed", "open", "half_open"]
    failures: int = Field(description="failed attempts in a row")
    opened_count: int = Field(description="times the breaker opened in a row (its open time doubles with each)")
    retry_at: datetime | None = Field(description="open: when one probe may go")
    pending: int = Field(description="deliveries waiting to be sent (pending or sending)")
    dead: int = Field(description="deliveries that gave up: redrive them once the receiver is fixed")


class DeliveryAttemptPublic(BaseModel):
    number: int
    at: datetime
    outcome: Literal["sent", "failed", "refused", "skipped"]
    status: int | None = Field(description="the receiver's HTTP status or SMTP reply code")
    error: str | None
    duration_ms: int


class DeliveryPublic(BaseModel):
    id: str = Field(description="also the webhook-id and the e-mail's Message-ID: receivers deduplicate on it")
    event_id: str | None
    event_type: str
    subscription_id: str | None
    record_type: str | None
    record_id: str | None
    channel: DeliveryChannel
    endpoint_id: str | None
    recipient: str
    urgency: str
    state: DeliveryState
    attempts: int = Field(description="failed or sent attempts since it was made (or last redriven)")
    next_attempt_at: datetime
    subject: str
    last_status: int | None
    last_error: str | None
    digest_id: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime


class DeliveryDetail(DeliveryPublic):
    attempts_log: list[DeliveryAttemptPublic] = Field(description="every attempt, oldest first (kept by redrive)")


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class DeliveryQuery(BaseModel):
    """Which deliveries, newest first: every filter given must hold."""

    record_id: RecordId | None = None
    endpoint_id: RecordId | None = None
    state: DeliveryState | None = None
    recipient: Annotated[str, Field(min_length=1, max_length=320)] | None = None
    event_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    cursor: str | None = Field(default=None, description="`next_cursor` of the page before")
    limit: int = Field(default=50, ge=1, le=200)


class RedriveEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: RecordId


class Redriven(BaseModel):
    redriven: int = Field(description=f"dead deliveries put back to pending (at most {MAX_REDRIVE} a call: call "
                                      "again while it is that many)")
