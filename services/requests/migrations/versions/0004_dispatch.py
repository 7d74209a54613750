"""requests: automatic dispatch (issue 17): the rules' generation row, open work kept after it closes

Revision ID: 0004
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("open_work", sa.Column("open", sa.Boolean(), nullable=False, server_default="true"))
    op.create_table(
        "dispatch_rules_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(sa.text("INSERT INTO dispatch_rules_generation (id, generation) VALUES (1, :g)")
               .bindparams(g=str(uuid.uuid4())))


def downgrade() -> None:
    op.drop_table("dispatch_rules_generation")
    op.drop_column("open_work", "open")
