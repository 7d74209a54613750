"""problems: affected CIs, the published known error (and its workaround); the known errors themselves

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("problems", sa.Column("affected_cis", ARRAY(sa.String(64)), nullable=False,
                                        server_default=sa.text("'{}'")))
    op.alter_column("problems", "affected_cis", server_default=None)  # the service always writes it
    # What a problem offers an incident linked to it: its published known error's number and workaround.
    for name, kind in (("known_error_id", sa.String(36)), ("known_error_number", sa.String(20)),
                       ("workaround", sa.Text)):
        op.add_column("problems", sa.Column(name, kind))
    op.execute("CREATE SEQUENCE known_error_number_seq START WITH 1001")
    op.create_table(
        "known_errors",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        # One known error per problem: publishing again revises it.
        sa.Column("problem_id", sa.String(36), sa.ForeignKey("problems.id"), nullable=False, unique=True),
        sa.Column("problem_number", sa.String(20), nullable=False),
        sa.Column("title", sa.String(160), nullable=False),
        sa.Column("symptoms", sa.Text, nullable=False),
        sa.Column("workaround", sa.Text, nullable=False),
        sa.Column("root_cause", sa.Text, nullable=False),
        sa.Column("cause_code", sa.String(20), nullable=False),
        sa.Column("affected_cis", ARRAY(sa.String(64)), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(255), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column("retired_reason", sa.Text),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("known_errors_by_published", "known_errors", ["published_at", "id"])
    op.create_index("known_errors_by_ci", "known_errors", ["affected_cis"], postgresql_using="gin")
    op.create_index("problems_by_ci", "problems", ["affected_cis"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("problems_by_ci", table_name="problems")
    op.drop_table("known_errors")
    op.execute("DROP SEQUENCE known_error_number_seq")
    for name in ("workaround", "known_error_number", "known_error_id", "affected_cis"):
        op.drop_column("problems", name)
