"""knowledge: suggestions (nothing to add: they read the articles' and known errors' search columns)

Revision ID: 0003
"""

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
