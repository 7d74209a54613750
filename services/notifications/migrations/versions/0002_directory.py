"""notifications: directory (people, groups, members; SCIM import)

The tables themselves came with 0001; this revision holds what the directory part adds.

Revision ID: 0002
"""

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
