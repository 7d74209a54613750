"""Requested items are timed too (issue 17): a timer names the kind of record it runs for

Revision ID: 0004

`record_type` is 'incident' for every timer so far; a requested item's timers carry the item's id in
`request_item_id` (its request's in `request_id`, its RITM number in `record_number`), with `incident_id` null.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("timers", sa.Column("record_type", sa.String(20), nullable=False, server_default="incident"))
    op.add_column("timers", sa.Column("request_item_id", sa.String(36)))
    op.add_column("timers", sa.Column("request_id", sa.String(36)))
    op.add_column("timers", sa.Column("record_number", sa.String(40)))
    op.alter_column("timers", "incident_id", nullable=True)
    op.create_index("timers_by_request_item", "timers", ["request_item_id"],
                    postgresql_where=sa.text("request_item_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("timers_by_request_item", "timers")
    op.execute("DELETE FROM timers WHERE record_type <> 'incident'")
    op.alter_column("timers", "incident_id", nullable=False)
    op.drop_column("timers", "record_number")
    op.drop_column("timers", "request_id")
    op.drop_column("timers", "request_item_id")
    op.drop_column("timers", "record_type")
