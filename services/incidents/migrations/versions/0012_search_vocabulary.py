"""search vocabulary (issue 18): the words of the incidents' titles, trigram indexed and kept by triggers, so that a
misspelled word is corrected on a few thousand words instead of compared with every title; the title's trigram
index goes (every incident written had to update it); see itsm_kit.search. And an index of the caller: a requester's
own incidents (their search, their list) are a few among a million

Revision ID: 0012
Revises: 0011
"""

from alembic import op

from itsm_kit.search import Searchable

revision = "0012"
down_revision = "0011"

# As the table was when this revision was written (the store's spec may change in a later revision).
SEARCH = Searchable("incidents", title=("number", "short_description"), body=("description", "resolution_notes"),
                    trigram="short_description")


def upgrade() -> None:
    SEARCH.add_vocabulary(op, most_digits=None)  # as it was then: 0013 limits the digits
    op.create_index("incidents_by_caller", "incidents", ["caller", "opened_at", "id"])


def downgrade() -> None:
    op.drop_index("incidents_by_caller", "incidents")
    SEARCH.drop_vocabulary(op)
