"""configuration items, unique by class and name; outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from itsm_kit.db import create_kit_tables_v1, drop_kit_tables_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "cis",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("ci_class", sa.String(40), nullable=False),
        sa.Column("criticality", sa.Integer, nullable=False),
        sa.Column("operational_status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("cis_by_created", "cis", ["created_at", "id"])
    op.create_index("cis_one_per_class_and_name", "cis", ["ci_class", sa.text("lower(name)")], unique=True)
    create_kit_tables_v1(op)


def downgrade() -> None:
    drop_kit_tables_v1(op)
    op.drop_table("cis")
