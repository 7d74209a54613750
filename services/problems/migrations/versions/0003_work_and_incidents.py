"""problems: who opened it, assignment, related incidents; indexes for the list filters

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # Problems opened before this was kept were opened by nobody the service knew: the system.
    op.add_column("problems", sa.Column("opened_by", sa.String(255), nullable=False, server_default="system"))
    op.add_column("problems", sa.Column("assignee", sa.String(100)))
    op.add_column("problems", sa.Column("assignment_group", sa.String(100)))
    op.add_column("problems", sa.Column("related_incidents", ARRAY(sa.String(64)), nullable=False,
                                        server_default=sa.text("'{}'")))
    for name in ("opened_by", "related_incidents"):
        op.alter_column("problems", name, server_default=None)  # the service always writes them
    op.create_index("problems_by_state", "problems", ["state", "opened_at", "id"])
    op.create_index("problems_by_assignee", "problems", ["assignee", "opened_at", "id"])
    op.create_index("problems_by_group", "problems", ["assignment_group", "opened_at", "id"])
    op.create_index("problems_by_incident", "problems", ["related_incidents"], postgresql_using="gin")


def downgrade() -> None:
    for index in ("problems_by_incident", "problems_by_group", "problems_by_assignee", "problems_by_state"):
        op.drop_index(index, table_name="problems")
    for column in ("related_incidents", "assignment_group", "assignee", "opened_by"):
        op.drop_column("problems", column)
