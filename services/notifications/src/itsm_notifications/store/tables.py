"""Every table of the notifications database (migrations write the same out, revision by revision)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text, text,
)
from sqlalchemy.dialects.postgresql import JSONB

from itsm_kit.db import kit_metadata  # noqa: F401  (outbox, inbox: created by the kit's helpers)

metadata = MetaData()


def _record_columns() -> list[Column]:
    """What every admin-managed record has: when it was made and changed, and its version (If-Match)."""
    return [
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("version", BigInteger, nullable=False),
    ]


# --- Directory: who can be told, and how to reach them.
people = Table(
    "people",
    metadata,
    Column("id", String(36), primary_key=True),
    # The identity provider's subject: what incidents name as assignee, what tokens carry as `sub`.
    Column("username", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320)),
    Column("chat_handle", String(100)),
    Column("timezone", String(64), nullable=False),  # IANA name
    # {"days": [1..7 ISO weekdays], "start": "09:00", "end": "17:30"} in their timezone; null: always reachable.
    Column("working_hours", JSONB),
    Column("active", Boolean, nullable=False),
    Column("scim_id", String(255), unique=True),  # set when imported from the identity provider
    # Issue 17 (directory for requests and dispatch): the manager's username (who approves what this person
    # requests) and a site name (dispatch rules' requester_location). Migration 0006.
    Column("manager", String(100)),
    Column("location", String(200)),
    *_record_columns(),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(36), primary_key=True),
    # What incidents, problems and SLA definitions name as assignment or escalation group.
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("email", String(320)),  # a shared mailbox; members are told as well
    Column("scim_id", String(255), unique=True),
    *_record_columns(),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(36), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", String(36), ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Index("group_members_by_person", "person_id"),
)

# --- What is sent where: subscriptions, templates, endpoints.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("event_type", String(200), nullable=False),
    # [{"field": "priority", "op": "<=", "value": 2}, ...]: all must hold on the event's data (and record).
    Column("filter", JSONB, nullable=False),
    # [{"kind": "assignee" | "assignment_group" | "escalation_group" | "group" | "person", "value": ...}]
    Column("recipients", JSONB, nullable=False),
    Column("channel", String(20), nullable=False),  # email | slack | teams | webhook | pagerduty | jira
    Column("endpoint_id", String(36)),  # the endpoint of a slack/teams/webhook/pagerduty/jira channel
    Column("template", String(100)),  # a template name; null: the event type's default template
    Column("urgency", String(10), nullable=False),  # high: now; low: quiet hours and digest apply
    Column("enabled", Boolean, nullable=False),
    *_record_columns(),
    Index("subscriptions_by_event_type", "event_type"),
)

templates = Table(
    "templates",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("description", Text, nullable=False),
    Column("subject", Text, nullable=False),  # e-mail subject, chat title
    Column("body", Text, nullable=False),  # plain text (e-mail, chat)
    *_record_columns(),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # slack | teams | webhook | pagerduty | jira
    Column("url", Text, nullable=False),
    # Signing secret (webhook: whsec_...), PagerDuty routing key, Jira API token; never returned by the API.
    Column("secret", Text),
    # Secret that inbound calls (PagerDuty v3 webhooks, Jira webhooks) are signed with; never returned.
    Column("inbound_secret", Text),
    Column("options", JSONB, nullable=False),  # per kind: Jira project and issue type, user; PagerDuty severity map
    Column("enabled", Boolean, nullable=False),
    *_record_columns(),
)

# One row per breaker: an endpoint's id, or "smtp" for the mail relay. Shared by every replica.
breakers = Table(
    "breakers",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("state", String(10), nullable=False),  # closed | open | half_open
    Column("failures", Integer, nullable=False),  # in a row
    Column("opened_count", Integer, nullable=False),  # opens in a row (the open time doubles with it)
    Column("retry_at", DateTime(timezone=True)),  # open: when one probe may go
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# --- Deliveries: one durable row per message to one recipient over one channel.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),  # also the webhook-id / Message-ID: receivers dedupe on it
    # event id + subscription + recipient: a redelivered event finds its rows and adds none.
    Column("dedup_key", String(300), nullable=False, unique=True),
    Column("event_id", String(64)),  # null for a digest
    Column("event_type", String(200), nullable=False),
    Column("subscription_id", String(36)),
    Column("record_type", String(20)),  # incident | problem | change
    Column("record_id", String(64)),
    Column("channel", String(20), nullable=False),
    Column("endpoint_id", String(36)),
    Column("breaker_key", String(64), nullable=False),
    Column("recipient", String(320), nullable=False),  # e-mail address, endpoint name
    Column("person_id", String(36)),  # whom an e-mail goes to, for quiet hours and digests
    Column("urgency", String(10), nullable=False),
    # pending -> sending -> sent | pending (retry) | dead; held (quiet hours, digest) -> digested | pending
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),  # while sending
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("payload", JSONB),  # the JSON a webhook, chat or connector call sends
    Column("last_status", Integer),  # the receiver's last HTTP or SMTP status
    Column("last_error", Text),
    Column("digest_id", String(36)),  # held low-urgency rows: the digest delivery that carried them
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The dispatcher takes each receiver's due deliveries, oldest first, from here (store/deliveries.py claim).
    Index("deliveries_due", "breaker_key", "next_attempt_at", postgresql_where=text("state IN ('pending', 'sending')")),
    Index("deliveries_held", "person_id", "channel", postgresql_where=text("state = 'held'")),
    Index("deliveries_by_record", "record_id", "created_at"),
    Index("deliveries_by_endpoint", "endpoint_id", "created_at"),
    Index("deliveries_by_state", "state", "created_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("delivery_id", String(36), ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(10), nullable=False),  # sent | failed | refused (permanent)
    Column("status", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
)

# --- Connectors: our record <-> the tool's, and the state the tool last told us (no echo back).
external_links = Table(
    "external_links",
    metadata,
    Column("endpoint_id", String(36), primary_key=True),
    Column("record_type", String(20), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("connector", String(20), nullable=False),  # pagerduty | jira
    Column("external_id", String(255)),  # PagerDuty incident id / Jira issue key, once known
    Column("external_key", String(255), nullable=False),  # what we sent first: PagerDuty dedup_key, Jira label
    Column("external_state", String(30)),  # as last sent or heard: triggered, acknowledged, resolved, a status
    Column("url", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("external_links_by_external_id", "connector", "external_id"),
    Index("external_links_by_external_key", "connector", "external_key"),
    # Connectors part (0005): the link's version, the sequence of the events it publishes (itsm.notifications).
    Column("version", BigInteger, nullable=False, server_default=text("0")),
)

# Connectors part (0005): the inbound webhook deliveries already taken (PagerDuty event id, Jira webhook
# identifier), so a tool's retry of one changes nothing and publishes nothing.
connector_receipts = Table(
    "connector_receipts",
    metadata,
    Column("endpoint_id", String(36), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("connector_receipts_by_time", "received_at"),
)

# --- What the templates and recipient rules need to know of the records events speak of.
records = Table(
    "records",
    metadata,
    Column("record_type", String(20), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("number", String(20)),
    Column("title", String(200)),
    Column("priority", Integer),
    Column("state", String(30)),
    Column("assignment_group", String(100)),
    Column("assignee", String(100)),
    Column("sequence", BigInteger, nullable=False),  # the last event applied: older ones change nothing
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
