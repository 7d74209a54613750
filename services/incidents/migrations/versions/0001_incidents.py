"""incidents with alert deduplication; outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from itsm_kit.db import create_kit_tables_v1, drop_kit_tables_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("incident_number_seq", start=1001)))
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("short_description", sa.String(160), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("impact", sa.Integer, nullable=False),
        sa.Column("urgency", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("dedup_key", sa.String(255)),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True)),
        sa.Column("hold_reason", sa.String(40)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolution_code", sa.String(60)),
        sa.Column("resolution_notes", sa.Text),
    )
    op.create_index("incidents_by_opened", "incidents", ["opened_at", "id"])
    op.create_index(
        "incidents_one_open_per_dedup_key", "incidents", ["dedup_key"], unique=True,
        postgresql_where=sa.text("dedup_key IS NOT NULL AND state IN ('new', 'in_progress', 'on_hold')"),
    )
    create_kit_tables_v1(op)


def downgrade() -> None:
    drop_kit_tables_v1(op)
    op.drop_table("incidents")
    op.execute(sa.schema.DropSequence(sa.Sequence("incident_number_seq")))
