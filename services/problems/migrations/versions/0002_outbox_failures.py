"""outbox: publications Kafka refused per row, and rows set aside after too many (kit schema v2)

Revision ID: 0002
"""

from alembic import op

from itsm_kit.db import add_kit_outbox_failures_v2, drop_kit_outbox_failures_v2

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    add_kit_outbox_failures_v2(op)


def downgrade() -> None:
    drop_kit_outbox_failures_v2(op)
