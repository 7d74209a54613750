"""incident lifecycle: ServiceNow fields, parent/child, timeline, admin priority matrix

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

# ServiceNow's default lookup rules, the matrix in use until an admin changes it.
DEFAULT_MATRIX = {
    (1, 1): 1, (1, 2): 2, (1, 3): 3,
    (2, 1): 2, (2, 2): 3, (2, 3): 4,
    (3, 1): 3, (3, 2): 4, (3, 3): 5,
}

INDEXES = [
    ("incidents_by_updated", ["updated_at", "id"], None),
    ("incidents_by_priority", ["priority", "id"], None),
    ("incidents_by_state", ["state"], None),
    ("incidents_by_assignment_group", ["assignment_group"], None),
    ("incidents_by_assignee", ["assignee"], None),
    ("incidents_by_affected_ci", ["affected_ci"], None),
    ("incidents_by_business_service", ["business_service"], None),
    ("incidents_children", ["parent_id"], "parent_id IS NOT NULL"),
    ("incidents_resolved", ["resolved_at"], "state = 'resolved'"),
]


def upgrade() -> None:
    for column in (
        sa.Column("caller", sa.String(100)),
        sa.Column("category", sa.String(100)),
        sa.Column("subcategory", sa.String(100)),
        sa.Column("assignment_group", sa.String(100)),
        sa.Column("assignee", sa.String(100)),
        sa.Column("reassignment_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("affected_ci", sa.String(255)),
        sa.Column("business_service", sa.String(255)),
        sa.Column("major", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("parent_id", sa.String(36), sa.ForeignKey("incidents.id")),
        sa.Column("priority_override_reason", sa.String(500)),
        sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("incidents", column)
    for name, columns, where in INDEXES:
        op.create_index(name, "incidents", columns, postgresql_where=sa.text(where) if where else None)

    op.create_table(
        "incident_activity",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(36), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("field", sa.String(40)),
        sa.Column("old_value", sa.Text),
        sa.Column("new_value", sa.Text),
        sa.Column("text", sa.Text),
    )
    op.create_index("incident_activity_by_incident", "incident_activity", ["incident_id", "at", "id"])

    matrix = op.create_table(
        "priority_matrix",
        sa.Column("impact", sa.Integer, primary_key=True),
        sa.Column("urgency", sa.Integer, primary_key=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.String(255)),
    )
    op.bulk_insert(matrix, [{"impact": i, "urgency": u, "priority": p} for (i, u), p in DEFAULT_MATRIX.items()])


def downgrade() -> None:
    op.drop_table("priority_matrix")
    op.drop_table("incident_activity")
    for name, _, _ in INDEXES:
        op.drop_index(name, "incidents")
    for column in ("closed_at", "reopen_count", "priority_override_reason", "parent_id", "business_service",
                   "affected_ci", "major", "reassignment_count", "assignee", "assignment_group", "subcategory",
                   "category", "caller"):
        op.drop_column("incidents", column)
