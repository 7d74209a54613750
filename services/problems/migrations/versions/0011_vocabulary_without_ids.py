"""search vocabulary: no token with more than two digits (an id, a hash, a quantity) is a word any more, so an alert
storm's ids no longer grow the vocabulary by a word each (nor cost a trigram index insert each); see
itsm_kit.search.MOST_DIGITS

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from itsm_kit.search import Searchable

revision = "0011"
down_revision = "0010"

# As the table was when this revision was written (the store's spec may change in a later revision).
SEARCH = Searchable("problems", title=("number", "short_description"), body=("description", "root_cause", "workaround"),
                    trigram="short_description")


def upgrade() -> None:
    SEARCH.refresh_vocabulary(op)


def downgrade() -> None:
    SEARCH.refresh_vocabulary(op, most_digits=None)
