"""search that ranks (issue 18): a generated, weighted tsvector of the problem's text with a GIN index, and a trigram
index of its title for misspelled words (pg_trgm); see itsm_kit.search

Revision ID: 0009
Revises: 0008
"""

from alembic import op

from itsm_kit.search import Searchable

revision = "0009"
down_revision = "0008"

# As the table was when this revision was written (the store's spec may change in a later revision).
SEARCH = Searchable("problems", title=("number", "short_description"), body=("description", "root_cause", "workaround"),
                    trigram="short_description")


def upgrade() -> None:
    SEARCH.add(op)


def downgrade() -> None:
    SEARCH.drop(op)
