"""incidents escalated by SLA breaches: the mark, the escalation group, when

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("incidents", sa.Column("escalated", sa.Boolean, nullable=False, server_default="false"))
    op.add_column("incidents", sa.Column("escalation_group", sa.String(100)))
    op.add_column("incidents", sa.Column("escalated_at", sa.DateTime(timezone=True)))
    op.create_index("incidents_escalated", "incidents", ["escalated_at"], postgresql_where=sa.text("escalated"))


def downgrade() -> None:
    op.drop_index("incidents_escalated", "incidents")
    for column in ("escalated_at", "escalation_group", "escalated"):
        op.drop_column("incidents", column)
