"""CI attributes, provenance, identities, relationships, history, source priorities

Identity moves from "one name per class" to each class's identification rules
(ci_identities). CIs registered before keep what they had: the classes identified by
name get that identity back, and each gets its creation as its first history entry.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"

EMPTY = sa.text("'{}'::jsonb")
LIVE = sa.text("removed_at IS NULL")
REMOVED = sa.text("removed_at IS NOT NULL")


def upgrade() -> None:
    op.add_column("cis", sa.Column("owner_group", sa.String(100)))
    op.add_column("cis", sa.Column("environment", sa.String(30)))
    op.add_column("cis", sa.Column("attributes", JSONB, nullable=False, server_default=EMPTY))
    op.add_column("cis", sa.Column("provenance", JSONB, nullable=False, server_default=EMPTY))
    op.drop_index("cis_one_per_class_and_name", "cis")
    op.create_index("cis_by_class", "cis", ["ci_class", "created_at", "id"])

    op.create_table(
        "ci_identities",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("ci_id", sa.String(36), nullable=False),
    )
    op.create_index("ci_identities_by_ci", "ci_identities", ["ci_id"])
    op.execute("""
        INSERT INTO ci_identities (key, ci_id)
        SELECT ci_class || '/name=' || lower(trim(name)), id FROM cis
        WHERE ci_class IN ('business_service', 'application') AND operational_status <> 'retired'
    """)

    op.create_table(
        "ci_relationships",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("target_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(60), nullable=False),
        sa.Column("created_actor", sa.String(255)),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        sa.Column("removed_by", sa.String(60)),
        sa.Column("removed_actor", sa.String(255)),
    )
    op.create_index("ci_relationships_live", "ci_relationships", ["source_id", "target_id", "type"], unique=True,
                    postgresql_where=LIVE)
    op.create_index("ci_relationships_live_by_target", "ci_relationships", ["target_id", "source_id", "type"],
                    postgresql_where=LIVE)
    op.create_index("ci_relationships_removed_by_source", "ci_relationships", ["source_id"],
                    postgresql_where=REMOVED)
    op.create_index("ci_relationships_removed_by_target", "ci_relationships", ["target_id"],
                    postgresql_where=REMOVED)

    op.create_table(
        "ci_history",
        sa.Column("ci_id", sa.String(36), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source", sa.String(60), nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("changes", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("ci_id", "version", name="ci_history_pkey"),
    )
    op.execute("""
        INSERT INTO ci_history (ci_id, version, at, kind, source, changes)
        SELECT id, version, updated_at, 'created', 'manual', jsonb_build_object(
            'name', jsonb_build_array(NULL, name), 'criticality', jsonb_build_array(NULL, criticality),
            'operational_status', jsonb_build_array(NULL, operational_status))
        FROM cis
    """)

    op.create_table(
        "ci_sources",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("field_priorities", JSONB, nullable=False, server_default=EMPTY),
        sa.Column("description", sa.String(500)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ci_sources")
    op.drop_table("ci_history")
    op.drop_table("ci_relationships")
    op.drop_table("ci_identities")
    op.drop_index("cis_by_class", "cis")
    op.create_index("cis_one_per_class_and_name", "cis", ["ci_class", sa.text("lower(name)")], unique=True)
    for column in ("provenance", "attributes", "environment", "owner_group"):
        op.drop_column("cis", column)
