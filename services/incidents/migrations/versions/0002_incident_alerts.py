"""incident_alerts: each monitoring alert and the incident it is attached to

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", sa.String(36), sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("dedup_key", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("group_key", sa.String(512)),
        sa.Column("integration_id", sa.String(36), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("incident_alerts_one_active_per_key", "incident_alerts", ["dedup_key"], unique=True,
                    postgresql_where=sa.text("status <> 'resolved'"))
    op.create_index("incident_alerts_active_by_group", "incident_alerts", ["group_key", "last_seen_at"],
                    postgresql_where=sa.text("status <> 'resolved' AND group_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("incident_alerts")
