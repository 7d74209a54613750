"""the incidents service's copy of the CMDB: CIs and relationships, fed by itsm.cmdb

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "cmdb_cis",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("ci_class", sa.String(40), nullable=False),
        sa.Column("criticality", sa.Integer, nullable=False),
        sa.Column("operational_status", sa.String(20), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
    )
    op.create_index("cmdb_cis_by_name", "cmdb_cis", [sa.text("lower(name)")])
    op.create_table(
        "cmdb_relationships",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("target_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False, server_default="false"),
    )
    op.create_index("cmdb_relationships_live_by_target", "cmdb_relationships", ["target_id", "source_id"],
                    postgresql_where=sa.text("NOT removed"))


def downgrade() -> None:
    op.drop_table("cmdb_relationships")
    op.drop_table("cmdb_cis")
