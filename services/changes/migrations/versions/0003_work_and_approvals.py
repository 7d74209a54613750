"""changes: who requested, assignment, affected CIs, approvals; indexes for the list filters

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # Changes requested before this was kept were requested by nobody the service knew: the system.
    op.add_column("changes", sa.Column("requested_by", sa.String(255), nullable=False, server_default="system"))
    op.add_column("changes", sa.Column("assignee", sa.String(100)))
    op.add_column("changes", sa.Column("assignment_group", sa.String(100)))
    op.add_column("changes", sa.Column("affected_cis", ARRAY(sa.String(64)), nullable=False,
                                       server_default=sa.text("'{}'")))
    op.add_column("changes", sa.Column("approvals", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    for name in ("requested_by", "affected_cis", "approvals"):
        op.alter_column("changes", name, server_default=None)  # the service always writes them
    op.create_index("changes_by_state", "changes", ["state", "requested_at", "id"])
    op.create_index("changes_by_assignee", "changes", ["assignee", "requested_at", "id"])
    op.create_index("changes_by_group", "changes", ["assignment_group", "requested_at", "id"])
    op.create_index("changes_by_planned_start", "changes", ["planned_start"])
    op.create_index("changes_by_ci", "changes", ["affected_cis"], postgresql_using="gin")


def downgrade() -> None:
    for index in ("changes_by_ci", "changes_by_planned_start", "changes_by_group", "changes_by_assignee",
                  "changes_by_state"):
        op.drop_index(index, table_name="changes")
    for column in ("approvals", "affected_cis", "assignment_group", "assignee", "requested_by"):
        op.drop_column("changes", column)
