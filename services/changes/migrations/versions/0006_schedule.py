"""changes: the schedule (blackout and maintenance windows, conflicts, blackout reason, deployments, calendar feeds)

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("changes", sa.Column("blackout_reason", sa.Text))
    op.add_column("changes", sa.Column("conflicts", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.add_column("changes", sa.Column("deployment_id", sa.String(200)))
    op.add_column("changes", sa.Column("deployment", JSONB))
    op.create_index("changes_by_deployment", "changes", ["deployment_id"], unique=True,
                    postgresql_where=sa.text("deployment_id IS NOT NULL"))
    op.create_table(
        "change_windows",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(160), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cis", ARRAY(sa.String(64)), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("change_windows_by_time", "change_windows", ["kind", "start", "end"])
    op.create_table(
        "change_calendar_feeds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("change_calendar_feeds_by_owner", "change_calendar_feeds", ["owner", "created_at"])


def downgrade() -> None:
    op.drop_table("change_calendar_feeds")
    op.drop_table("change_windows")
    op.drop_index("changes_by_deployment", table_name="changes")
    for column in ("deployment", "deployment_id", "conflicts", "blackout_reason"):
        op.drop_column("changes", column)
