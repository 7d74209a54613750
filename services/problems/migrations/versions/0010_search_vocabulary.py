"""search vocabulary (issue 18): the words of the problems' titles, trigram indexed and kept by triggers, so that a
misspelled word is corrected on a few thousand words instead of compared with every title; the title's trigram
index goes (every problem written had to update it); see itsm_kit.search

Revision ID: 0010
Revises: 0009
"""

from alembic import op

from itsm_kit.search import Searchable

revision = "0010"
down_revision = "0009"

# As the table was when this revision was written (the store's spec may change in a later revision).
SEARCH = Searchable("problems", title=("number", "short_description"), body=("description", "root_cause", "workaround"),
                    trigram="short_description")


def upgrade() -> None:
    SEARCH.add_vocabulary(op, most_digits=None)  # as it was then: 0011 limits the digits


def downgrade() -> None:
    SEARCH.drop_vocabulary(op)
