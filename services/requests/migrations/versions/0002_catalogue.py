"""requests: the service catalogue (categories, items and their form versions)

The tables themselves came with 0001 (catalog_categories, catalog_items, catalog_item_versions); the catalogue
part needs nothing more, and keeps this revision so the chain stays whole.

Revision ID: 0002
"""

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
