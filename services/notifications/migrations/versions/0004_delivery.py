"""notifications: delivery (dispatcher, channels, breakers, delivery log)

Nothing to add so far: 0001 made every table the dispatcher uses (endpoints, breakers, deliveries,
delivery_attempts, external_links); this revision holds what the delivery part adds later.

Revision ID: 0004
"""

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
