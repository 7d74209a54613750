"""changes: risk (level, factors, when assessed), suspected incidents; the CMDB copy and a slim incident copy

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from itsm_kit.cmdb_copy import create_cmdb_copy_tables, drop_cmdb_copy_tables

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    # Empty at first: the consumer reads itsm.cmdb from the beginning and fills it (the schedule's conflict check
    # reads it too).
    create_cmdb_copy_tables(op)
    # Walks downstream (what a CI depends on): which changes an event on a CI concerns.
    op.create_index("cmdb_relationships_live_by_source", "cmdb_relationships", ["source_id", "target_id"],
                    postgresql_where=sa.text("NOT removed"))
    # The incidents as far as risk and "possibly caused by" need them, kept current from itsm.incidents.
    op.create_table(
        "incident_copy",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(20)),
        sa.Column("affected_ci", sa.String(64)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
    )
    op.create_index("incident_copy_by_ci", "incident_copy", ["affected_ci"])
    op.add_column("changes", sa.Column("risk", sa.String(20)))
    op.add_column("changes", sa.Column("risk_factors", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.add_column("changes", sa.Column("risk_assessed_at", sa.DateTime(timezone=True)))
    op.add_column("changes", sa.Column("suspected_incidents", JSONB, nullable=False,
                                       server_default=sa.text("'[]'::jsonb")))
    for name in ("risk_factors", "suspected_incidents"):
        op.alter_column("changes", name, server_default=None)  # the service always writes them


def downgrade() -> None:
    for column in ("suspected_incidents", "risk_assessed_at", "risk_factors", "risk"):
        op.drop_column("changes", column)
    op.drop_index("incident_copy_by_ci", table_name="incident_copy")
    op.drop_table("incident_copy")
    drop_cmdb_copy_tables(op)
