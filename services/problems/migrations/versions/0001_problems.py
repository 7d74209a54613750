"""problems; outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from itsm_kit.db import create_kit_tables_v1, drop_kit_tables_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("problem_number_seq", start=1001)))
    op.create_table(
        "problems",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("short_description", sa.String(160), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("impact", sa.Integer, nullable=False),
        sa.Column("urgency", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("problems_by_opened", "problems", ["opened_at", "id"])
    create_kit_tables_v1(op)


def downgrade() -> None:
    drop_kit_tables_v1(op)
    op.drop_table("problems")
    op.execute(sa.schema.DropSequence(sa.Sequence("problem_number_seq")))
