"""search that ranks (issue 18): a generated, weighted tsvector of the change's text with a GIN index, and a trigram
index of its title for misspelled words (pg_trgm); see itsm_kit.search

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from itsm_kit.search import Searchable

revision = "0007"
down_revision = "0006"

# As the table was when this revision was written (the store's spec may change in a later revision).
SEARCH = Searchable("changes", title=("number", "short_description"), body=("description", "close_notes"),
                    trigram="short_description")


def upgrade() -> None:
    SEARCH.add(op)


def downgrade() -> None:
    SEARCH.drop(op)
