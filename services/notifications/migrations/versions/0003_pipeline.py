"""notifications: the pipeline's shipped default subscriptions, as data admins may change or disable

(The subscriptions, templates and records tables came with 0001.)

Revision ID: 0003
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"

# Fixed ids, so that a later revision (or an operator) can name them.
DEFAULTS = [
    {"id": "00000000-0000-4000-8000-000000000001", "name": "SLA breached: tell the escalation group",
     "event_type": "itsm.sla.breached", "filter": [], "recipients": [{"kind": "escalation_group"}],
     "urgency": "high"},
    {"id": "00000000-0000-4000-8000-000000000002", "name": "P1 or P2 opened: tell the assignment group",
     "event_type": "itsm.incident.opened", "filter": [{"field": "priority", "op": "<=", "value": 2}],
     "recipients": [{"kind": "assignment_group"}], "urgency": "high"},
    {"id": "00000000-0000-4000-8000-000000000003", "name": "Incident assigned: tell the assignee",
     "event_type": "itsm.incident.assigned", "filter": [], "recipients": [{"kind": "assignee"}], "urgency": "high"},
    {"id": "00000000-0000-4000-8000-000000000004", "name": "SLA warning: tell the assignee",
     "event_type": "itsm.sla.warning", "filter": [], "recipients": [{"kind": "assignee"}], "urgency": "low"},
    # There is no itsm.change.approval_requested: a change awaits approval when it moves into authorize (normal
    # changes from assess, emergency ones from new), which only state_changed says for both.
    {"id": "00000000-0000-4000-8000-000000000005", "name": "Change awaits approval: tell its assignment group",
     "event_type": "itsm.change.state_changed", "filter": [{"field": "to_state", "op": "==", "value": "authorize"}],
     "recipients": [{"kind": "assignment_group"}], "urgency": "high"},
]

subscriptions = sa.table(
    "subscriptions",
    sa.column("id", sa.String), sa.column("name", sa.String), sa.column("event_type", sa.String),
    sa.column("filter", JSONB), sa.column("recipients", JSONB), sa.column("channel", sa.String),
    sa.column("endpoint_id", sa.String), sa.column("template", sa.String), sa.column("urgency", sa.String),
    sa.column("enabled", sa.Boolean), sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)), sa.column("version", sa.BigInteger),
)


def upgrade() -> None:
    at = datetime.now(UTC)
    op.bulk_insert(subscriptions, [
        {**row, "channel": "email", "endpoint_id": None, "template": None, "enabled": True, "created_at": at,
         "updated_at": at, "version": 1}
        for row in DEFAULTS])


def downgrade() -> None:
    op.execute(subscriptions.delete().where(subscriptions.c.id.in_([row["id"] for row in DEFAULTS])))
