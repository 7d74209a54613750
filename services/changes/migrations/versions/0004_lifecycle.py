"""changes: lifecycle (plans, template, approval round, close code, implemented_at), standard change templates,
approval policies, the change timeline

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0004"
down_revision = "0003"

PLANS = ("implementation_plan", "backout_plan", "test_plan")


def upgrade() -> None:
    for name in PLANS:
        op.add_column("changes", sa.Column(name, sa.Text))
    op.add_column("changes", sa.Column("template_id", sa.String(36)))
    # Decisions of earlier rounds (before a rejection) stay in approvals; the round tells which count now.
    op.add_column("changes", sa.Column("approval_round", sa.Integer, nullable=False, server_default="0"))
    op.alter_column("changes", "approval_round", server_default=None)
    op.add_column("changes", sa.Column("implemented_at", sa.DateTime(timezone=True)))
    op.add_column("changes", sa.Column("close_code", sa.String(30)))
    op.add_column("changes", sa.Column("close_notes", sa.Text))
    op.add_column("changes", sa.Column("closed_at", sa.DateTime(timezone=True)))
    op.create_table(
        "change_templates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("short_description", sa.String(160), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        *(sa.Column(name, sa.Text, nullable=False) for name in PLANS),
        sa.Column("assignment_group", sa.String(100)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "change_approval_policies",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("change_type", sa.String(20), nullable=False),
        sa.Column("risk", sa.String(20), nullable=False),
        sa.Column("group_name", sa.String(100), nullable=False),
        sa.Column("approvers", ARRAY(sa.String(255)), nullable=False),
        sa.Column("rule", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("change_type", "risk", name="change_approval_policies_one_per_type_and_risk"),
    )
    op.create_table(
        "change_activity",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("change_id", sa.String(36), sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("field", sa.String(40)),
        sa.Column("old_value", sa.Text),
        sa.Column("new_value", sa.Text),
        sa.Column("text", sa.Text),
    )
    op.create_index("change_activity_by_change", "change_activity", ["change_id", "at", "id"])


def downgrade() -> None:
    op.drop_index("change_activity_by_change", table_name="change_activity")
    for table in ("change_activity", "change_approval_policies", "change_templates"):
        op.drop_table(table)
    for column in ("closed_at", "close_notes", "close_code", "implemented_at", "approval_round", "template_id",
                   *PLANS):
        op.drop_column("changes", column)
