"""When each discovery source last reported each CI; data refresh and missing-CI rules per source

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import INTERVAL

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "ci_sightings",
        sa.Column("ci_id", sa.String(36), nullable=False),
        sa.Column("source", sa.String(60), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ci_id", "source"),
    )
    op.add_column("ci_sources", sa.Column("stale_after", INTERVAL))
    op.add_column("ci_sources", sa.Column("retire_missing_after", INTERVAL))


def downgrade() -> None:
    op.drop_column("ci_sources", "retire_missing_after")
    op.drop_column("ci_sources", "stale_after")
    op.drop_table("ci_sightings")
