"""alerts known by their integration and dedup key; episodes with an id, their start and who ended them

An alert of one integration no longer matches another integration's incident with the same
dedup key; an episode's starts_at (with the key) tells a replayed notification of an episode
its source already resolved. Episodes get an id of their own, so one incident may hold two
episodes of one alert (it cleared and fired again within a storm).

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

ACTIVE = sa.text("status <> 'resolved'")
OPEN = sa.text("dedup_key IS NOT NULL AND state IN ('new', 'in_progress', 'on_hold')")


def upgrade() -> None:
    op.add_column("incidents", sa.Column("integration_id", sa.String(36)))
    # Monitoring incidents take the integration of the alert that opened them (their first episode).
    op.execute("""
        UPDATE incidents i SET integration_id = first.integration_id
        FROM (SELECT DISTINCT ON (incident_id) incident_id, integration_id FROM incident_alerts
              ORDER BY incident_id, first_seen_at) first
        WHERE first.incident_id = i.id AND i.dedup_key IS NOT NULL
    """)
    op.drop_index("incidents_one_open_per_dedup_key", "incidents")
    op.create_index("incidents_one_open_per_alert", "incidents", ["integration_id", "dedup_key"], unique=True,
                    postgresql_where=OPEN)

    op.add_column("incident_alerts", sa.Column("id", sa.String(36), nullable=True))
    op.execute("UPDATE incident_alerts SET id = gen_random_uuid()::text")
    op.alter_column("incident_alerts", "id", nullable=False)
    op.drop_constraint("incident_alerts_pkey", "incident_alerts", type_="primary")
    op.create_primary_key("incident_alerts_pkey", "incident_alerts", ["id"])
    op.add_column("incident_alerts", sa.Column("starts_at", sa.DateTime(timezone=True)))
    op.add_column("incident_alerts", sa.Column("ended_by", sa.String(20)))
    op.create_index("incident_alerts_by_incident", "incident_alerts", ["incident_id", "first_seen_at"])
    op.drop_index("incident_alerts_one_active_per_key", "incident_alerts")
    op.create_index("incident_alerts_one_active_per_alert", "incident_alerts", ["integration_id", "dedup_key"],
                    unique=True, postgresql_where=ACTIVE)
    op.drop_index("incident_alerts_active_by_group", "incident_alerts")
    op.create_index("incident_alerts_active_by_group", "incident_alerts",
                    ["integration_id", "group_key", "last_seen_at"],
                    postgresql_where=sa.text("status <> 'resolved' AND group_key IS NOT NULL"))
    op.create_index("incident_alerts_ended_at_source", "incident_alerts", ["integration_id", "dedup_key", "starts_at"],
                    postgresql_where=sa.text("ended_by = 'source'"))


def downgrade() -> None:
    op.drop_index("incident_alerts_ended_at_source", "incident_alerts")
    op.drop_index("incident_alerts_active_by_group", "incident_alerts")
    op.create_index("incident_alerts_active_by_group", "incident_alerts", ["group_key", "last_seen_at"],
                    postgresql_where=sa.text("status <> 'resolved' AND group_key IS NOT NULL"))
    op.drop_index("incident_alerts_one_active_per_alert", "incident_alerts")
    op.create_index("incident_alerts_one_active_per_key", "incident_alerts", ["dedup_key"], unique=True,
                    postgresql_where=ACTIVE)
    op.drop_index("incident_alerts_by_incident", "incident_alerts")
    op.drop_column("incident_alerts", "ended_by")
    op.drop_column("incident_alerts", "starts_at")
    op.drop_constraint("incident_alerts_pkey", "incident_alerts", type_="primary")
    op.create_primary_key("incident_alerts_pkey", "incident_alerts", ["incident_id", "dedup_key"])
    op.drop_column("incident_alerts", "id")
    op.drop_index("incidents_one_open_per_alert", "incidents")
    op.create_index("incidents_one_open_per_dedup_key", "incidents", ["dedup_key"], unique=True,
                    postgresql_where=OPEN)
    op.drop_column("incidents", "integration_id")
