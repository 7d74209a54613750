"""notifications: directory, subscriptions, templates, endpoints, breakers, deliveries, connector links, record copy;
outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from itsm_kit.db import (
    add_kit_outbox_failures_v2, create_kit_tables_v1, drop_kit_outbox_failures_v2, drop_kit_tables_v1,
)

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "breakers",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("opened_count", sa.Integer, nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),
        sa.Column("event_id", sa.String(64)),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("subscription_id", sa.String(36)),
        sa.Column("record_type", sa.String(20)),
        sa.Column("record_id", sa.String(64)),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("endpoint_id", sa.String(36)),
        sa.Column("breaker_key", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("person_id", sa.String(36)),
        sa.Column("urgency", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("payload", JSONB),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("digest_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("deliveries_due", "deliveries", ["breaker_key", "next_attempt_at"],
                    postgresql_where=sa.text("state IN ('pending', 'sending')"))
    op.create_index("deliveries_by_endpoint", "deliveries", ["endpoint_id", "created_at"])
    op.create_index("deliveries_by_state", "deliveries", ["state", "created_at"])
    op.create_index("deliveries_by_record", "deliveries", ["record_id", "created_at"])
    op.create_index("deliveries_held", "deliveries", ["person_id", "channel"],
                    postgresql_where=sa.text("state = 'held'"))
    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("inbound_secret", sa.Text),
        sa.Column("options", JSONB, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "external_links",
        sa.Column("endpoint_id", sa.String(36), primary_key=True),
        sa.Column("record_type", sa.String(20), primary_key=True),
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("connector", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("external_key", sa.String(255), nullable=False),
        sa.Column("external_state", sa.String(30)),
        sa.Column("url", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("external_links_by_external_id", "external_links", ["connector", "external_id"])
    op.create_index("external_links_by_external_key", "external_links", ["connector", "external_key"])
    op.create_table(
        "groups",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("scim_id", sa.String(255), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("chat_handle", sa.String(100)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("working_hours", JSONB),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("scim_id", sa.String(255), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("record_type", sa.String(20), primary_key=True),
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("number", sa.String(20)),
        sa.Column("title", sa.String(200)),
        sa.Column("priority", sa.Integer),
        sa.Column("state", sa.String(30)),
        sa.Column("assignment_group", sa.String(100)),
        sa.Column("assignee", sa.String(100)),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("filter", JSONB, nullable=False),
        sa.Column("recipients", JSONB, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("endpoint_id", sa.String(36)),
        sa.Column("template", sa.String(100)),
        sa.Column("urgency", sa.String(10), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("subscriptions_by_event_type", "subscriptions", ["event_type"])
    op.create_table(
        "templates",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("delivery_id", sa.String(36), sa.ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(36), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("group_members_by_person", "group_members", ["person_id"])
    create_kit_tables_v1(op)
    add_kit_outbox_failures_v2(op)


def downgrade() -> None:
    drop_kit_outbox_failures_v2(op)
    drop_kit_tables_v1(op)
    op.drop_table("group_members")
    op.drop_table("delivery_attempts")
    op.drop_table("templates")
    op.drop_table("subscriptions")
    op.drop_table("records")
    op.drop_table("people")
    op.drop_table("groups")
    op.drop_table("external_links")
    op.drop_table("endpoints")
    op.drop_table("deliveries")
    op.drop_table("breakers")
