"""search that ranks (issue 18): a generated, weighted tsvector of the incident's text with a GIN index, and a trigram
index of its title for misspelled words (pg_trgm); see itsm_kit.search

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from itsm_kit.search import Searchable

revision = "0011"
down_revision = "0010"

# As the table was when this revision was written (the store's spec may change in a later revision).
SEARCH = Searchable("incidents", title=("number", "short_description"), body=("description", "resolution_notes"),
                    trigram="short_description")


def upgrade() -> None:
    SEARCH.add(op)


def downgrade() -> None:
    SEARCH.drop(op)
