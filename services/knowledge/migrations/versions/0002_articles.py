"""knowledge: articles (nothing to change yet: 0001 holds the article tables)

Revision ID: 0002
"""

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
