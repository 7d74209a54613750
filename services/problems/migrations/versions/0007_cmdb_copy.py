"""problems: the service's copy of the CMDB (CIs and relationships), for the business services a problem affects

Revision ID: 0007
"""

from alembic import op

from itsm_kit.cmdb_copy import create_cmdb_copy_tables, drop_cmdb_copy_tables

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    # Empty at first: the consumer reads itsm.cmdb from the beginning and fills it.
    create_cmdb_copy_tables(op)


def downgrade() -> None:
    drop_cmdb_copy_tables(op)
