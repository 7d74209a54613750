"""search vocabulary (issue 18): the words of the changes' titles, trigram indexed and kept by triggers, so that a
misspelled word is corrected on a few thousand words instead of compared with every title; the title's trigram
index goes (every change written had to update it); see itsm_kit.search

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from itsm_kit.search import Searchable

revision = "0008"
down_revision = "0007"

# As the table was when this revision was written (the store's spec may change in a later revision).
SEARCH = Searchable("changes", title=("number", "short_description"), body=("description", "close_notes"),
                    trigram="short_description")


def upgrade() -> None:
    SEARCH.add_vocabulary(op, most_digits=None)  # as it was then: 0009 limits the digits


def downgrade() -> None:
    SEARCH.drop_vocabulary(op)
