"""search vocabulary: no token with more than two digits (an id, a hash, a quantity) is a word any more; see
itsm_kit.search.MOST_DIGITS

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from itsm_kit.search import Searchable

revision = "0004"
down_revision = "0003"

# As the tables were when this revision was written (the store's specs may change in a later revision).
SEARCHES = (Searchable(table="articles", title=("title",), body=("body",), trigram="title"),
            Searchable(table="known_errors", title=("title",), body=("symptoms", "workaround"), trigram="title"))


def upgrade() -> None:
    for search in SEARCHES:
        search.refresh_vocabulary(op)


def downgrade() -> None:
    for search in SEARCHES:
        search.refresh_vocabulary(op, most_digits=None)
