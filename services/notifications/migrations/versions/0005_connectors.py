"""notifications: connectors (PagerDuty, Jira) -- the version of an external link (its events' sequence) and the
inbound webhook deliveries already taken

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("external_links", sa.Column("version", sa.BigInteger, nullable=False, server_default=sa.text("0")))
    op.create_table(
        "connector_receipts",
        sa.Column("endpoint_id", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("connector_receipts_by_time", "connector_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_index("connector_receipts_by_time", "connector_receipts")
    op.drop_table("connector_receipts")
    op.drop_column("external_links", "version")
