"""when the dispatch decision applied last was made: an older decision that arrives later changes nothing (issue 17)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("problems", sa.Column("dispatched_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("problems", "dispatched_at")
