"""integration policy (dedup, storm control, routing rules), version and last change

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # Existing integrations get the default policy ('{}' = every field at its default).
    op.add_column("integrations", sa.Column("policy", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")))
    op.add_column("integrations", sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")))
    op.add_column("integrations", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.add_column("integrations", sa.Column("updated_by", sa.String(120)))


def downgrade() -> None:
    for column in ("updated_by", "updated_at", "version", "policy"):
        op.drop_column("integrations", column)
