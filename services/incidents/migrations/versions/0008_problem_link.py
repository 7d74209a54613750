"""incidents linked to a problem (followed from the problems service's events)

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("incidents", sa.Column("problem_id", sa.String(36)))
    op.create_index("incidents_by_problem", "incidents", ["problem_id"],
                    postgresql_where=sa.text("problem_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("incidents_by_problem", "incidents")
    op.drop_column("incidents", "problem_id")
