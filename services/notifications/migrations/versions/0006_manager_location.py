"""notifications (issue 17): a person's manager (who approves what they request) and location (a site, for dispatch
rules); and a shipped subscription: each approver of a request is e-mailed when their approval is requested

Revision ID: 0006
Revises: 0005
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"

# A fixed id, so that a downgrade removes this one (an admin may change or disable it like any other).
APPROVERS_SUBSCRIPTION = "00000000-0000-4000-8000-000000000006"

subscriptions = sa.table(
    "subscriptions",
    sa.column("id", sa.String), sa.column("name", sa.String), sa.column("event_type", sa.String),
    sa.column("filter", JSONB), sa.column("recipients", JSONB), sa.column("channel", sa.String),
    sa.column("endpoint_id", sa.String), sa.column("template", sa.String), sa.column("urgency", sa.String),
    sa.column("enabled", sa.Boolean), sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)), sa.column("version", sa.BigInteger),
)


def upgrade() -> None:
    op.add_column("people", sa.Column("manager", sa.String(100)))
    op.add_column("people", sa.Column("location", sa.String(200)))
    now = datetime.now(UTC)
    op.bulk_insert(subscriptions, [{
        "id": APPROVERS_SUBSCRIPTION, "name": "Approval requested: tell each approver",
        "event_type": "itsm.request.approval_requested", "filter": [],
        "recipients": [{"kind": "people_in", "value": "approvers"}], "channel": "email", "endpoint_id": None,
        "template": None, "urgency": "high", "enabled": True, "created_at": now, "updated_at": now, "version": 1,
    }])


def downgrade() -> None:
    op.execute(sa.delete(subscriptions).where(subscriptions.c.id == APPROVERS_SUBSCRIPTION))
    op.drop_column("people", "location")
    op.drop_column("people", "manager")
