"""when the dispatch decision applied last was made: an older decision that arrives later changes nothing (issue 17)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("incidents", sa.Column("dispatched_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("incidents", "dispatched_at")
