"""requests: requests with items, approvals and fulfilment tasks (issue 17, requests part)

Revision ID: 0003
"""

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # The skeleton's 0001 already made the requests, request_items, approvals, tasks and request_activity tables.
    pass


def downgrade() -> None:
    pass
