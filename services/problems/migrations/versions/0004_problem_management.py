"""problems: root cause, fix, resolution; the timeline (changes, comments, work notes)

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

COLUMNS = [("root_cause", sa.Text), ("cause_code", sa.String(20)), ("fix_change_id", sa.String(64)),
           ("resolution_code", sa.String(20)), ("resolution_notes", sa.Text),
           ("resolved_at", sa.DateTime(timezone=True)), ("closed_at", sa.DateTime(timezone=True))]


def upgrade() -> None:
    # All empty for problems from before: none had a root cause or resolution written down.
    for name, kind in COLUMNS:
        op.add_column("problems", sa.Column(name, kind))
    op.create_table(
        "problem_activity",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("problem_id", sa.String(36), sa.ForeignKey("problems.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("field", sa.String(40)),
        sa.Column("old_value", sa.Text),
        sa.Column("new_value", sa.Text),
        sa.Column("text", sa.Text),
    )
    op.create_index("problem_activity_by_problem", "problem_activity", ["problem_id", "at", "id"])


def downgrade() -> None:
    op.drop_index("problem_activity_by_problem", table_name="problem_activity")
    op.drop_table("problem_activity")
    for name, _ in reversed(COLUMNS):
        op.drop_column("problems", name)
