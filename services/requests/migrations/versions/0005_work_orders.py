"""requests: work-order templates. Nothing to add: 0001 made the work_order_templates table (name unique) and the
tasks' `template` column; a template's fields and tasks are JSON checked by the domain.

Revision ID: 0005
"""

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
