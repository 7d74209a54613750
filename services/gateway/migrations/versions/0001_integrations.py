"""monitoring integrations; outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from itsm_kit.db import create_kit_tables_v1, drop_kit_tables_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(12), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    create_kit_tables_v1(op)


def downgrade() -> None:
    drop_kit_tables_v1(op)
    op.drop_table("integrations")
