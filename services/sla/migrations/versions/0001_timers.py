"""SLA timers; outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from itsm_kit.db import create_kit_tables_v1, drop_kit_tables_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("policy", sa.String(60), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("breached", sa.Boolean, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("timers_by_incident", "timers", ["incident_id"])
    create_kit_tables_v1(op)


def downgrade() -> None:
    drop_kit_tables_v1(op)
    op.drop_table("timers")
