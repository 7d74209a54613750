"""when an incident's problem link last changed: a problem's event older than that is not applied

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column("incidents", sa.Column("problem_changed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("incidents", "problem_changed_at")
