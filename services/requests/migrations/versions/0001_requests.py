"""requests: catalogue, requests with items, approvals and tasks, dispatch rules and the copies they read, work-order
templates; outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from itsm_kit.db import (
    add_kit_outbox_failures_v2, create_kit_tables_v1, drop_kit_outbox_failures_v2, drop_kit_tables_v1,
)

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("request_number_seq", start=1001)))
    op.execute(sa.schema.CreateSequence(sa.Sequence("request_item_number_seq", start=1001)))
    op.execute(sa.schema.CreateSequence(sa.Sequence("task_number_seq", start=1001)))
    op.create_table('catalog_categories',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('cis',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('ci_class', sa.String(length=40), nullable=False),
    sa.Column('owner_group', sa.String(length=100), nullable=True),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('cis_by_name', 'cis', ['name'], unique=False)
    op.create_table('directory_groups',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('group_id', sa.String(length=36), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('dispatch_decisions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('dispatch_rule', sa.String(length=200), nullable=True),
    sa.Column('dispatch_rule_version', sa.Integer(), nullable=True),
    sa.Column('assignment_group', sa.String(length=100), nullable=True),
    sa.Column('assignee', sa.String(length=255), nullable=True),
    sa.Column('method', sa.String(length=20), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('dispatch_decisions_by_record', 'dispatch_decisions', ['record_type', 'record_id'], unique=False)
    op.create_table('dispatch_groups',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('last_assignee', sa.String(length=255), nullable=True),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('dispatch_rules',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('record_types', sa.ARRAY(sa.String(length=20)), nullable=False),
    sa.Column('conditions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('assignment_group', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_index('dispatch_rules_by_position', 'dispatch_rules', ['position'], unique=False)
    op.create_table('group_members',
    sa.Column('group_name', sa.String(length=100), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('group_name', 'username')
    )
    op.create_table('open_work',
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('assignment_group', sa.String(length=100), nullable=True),
    sa.Column('assignee', sa.String(length=255), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=True),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('record_type', 'record_id')
    )
    op.create_index('open_work_by_assignee', 'open_work', ['assignee'], unique=False)
    op.create_table('people',
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('manager', sa.String(length=100), nullable=True),
    sa.Column('location', sa.String(length=100), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username')
    )
    op.create_table('requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('requested_by', sa.String(length=255), nullable=False),
    sa.Column('requested_for', sa.String(length=255), nullable=False),
    sa.Column('short_description', sa.String(length=300), nullable=False),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    op.create_index('requests_by_requested_by', 'requests', ['requested_by', 'opened_at'], unique=False)
    op.create_index('requests_by_requested_for', 'requests', ['requested_for', 'opened_at'], unique=False)
    op.create_index('requests_by_state', 'requests', ['state', 'opened_at'], unique=False)
    op.create_table('work_order_templates',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('fields', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('tasks', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('approvals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('item_id', sa.String(length=36), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('approver', sa.String(length=20), nullable=False),
    sa.Column('group_name', sa.String(length=100), nullable=True),
    sa.Column('rule', sa.String(length=10), nullable=False),
    sa.Column('approvers', sa.ARRAY(sa.String(length=255)), nullable=False),
    sa.Column('decisions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('approvals_by_request', 'approvals', ['request_id'], unique=False)
    op.create_index('approvals_waiting_by_approver', 'approvals', ['approvers'], unique=False, postgresql_using='gin')
    op.create_table('catalog_items',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category_id', sa.String(length=36), nullable=False),
    sa.Column('short_description', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('groups', sa.ARRAY(sa.String(length=255)), nullable=False),
    sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('delivery_hours', sa.Integer(), nullable=True),
    sa.Column('response_target_minutes', sa.Integer(), nullable=True),
    sa.Column('fulfilment_target_minutes', sa.Integer(), nullable=True),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('form', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('flow', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['catalog_categories.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_index('catalog_items_by_category', 'catalog_items', ['category_id'], unique=False)
    op.create_table('request_activity',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=True),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('request_activity_by_request', 'request_activity', ['request_id', 'at', 'id'], unique=False)
    op.create_table('request_items',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('catalog_item_id', sa.String(length=36), nullable=False),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('answers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('flow', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('response_target_minutes', sa.Integer(), nullable=True),
    sa.Column('fulfilment_target_minutes', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    op.create_index('request_items_by_request', 'request_items', ['request_id', 'position'], unique=False)
    op.create_table('tasks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=True),
    sa.Column('stage', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('assignment_group', sa.String(length=100), nullable=True),
    sa.Column('assignee', sa.String(length=255), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('dispatch_rule', sa.String(length=200), nullable=True),
    sa.Column('dispatch_rule_version', sa.Integer(), nullable=True),
    sa.Column('template', sa.String(length=100), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    op.create_index('tasks_by_assignee', 'tasks', ['assignee', 'state'], unique=False)
    op.create_index('tasks_by_group', 'tasks', ['assignment_group', 'state'], unique=False)
    op.create_index('tasks_by_record', 'tasks', ['record_type', 'record_id'], unique=False)
    op.create_index('tasks_by_request', 'tasks', ['request_id'], unique=False)
    op.create_table('catalog_item_versions',
    sa.Column('item_id', sa.String(length=36), nullable=False),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('form', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('flow', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['catalog_items.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', 'form_version')
    )
    create_kit_tables_v1(op)
    add_kit_outbox_failures_v2(op)


def downgrade() -> None:
    drop_kit_outbox_failures_v2(op)
    drop_kit_tables_v1(op)
    op.drop_table("catalog_item_versions")
    op.drop_table("tasks")
    op.drop_table("request_items")
    op.drop_table("request_activity")
    op.drop_table("catalog_items")
    op.drop_table("approvals")
    op.drop_table("work_order_templates")
    op.drop_table("requests")
    op.drop_table("people")
    op.drop_table("open_work")
    op.drop_table("group_members")
    op.drop_table("dispatch_rules")
    op.drop_table("dispatch_groups")
    op.drop_table("dispatch_decisions")
    op.drop_table("directory_groups")
    op.drop_table("cis")
    op.drop_table("catalog_categories")
    op.execute(sa.schema.DropSequence(sa.Sequence("request_number_seq")))
    op.execute(sa.schema.DropSequence(sa.Sequence("request_item_number_seq")))
    op.execute(sa.schema.DropSequence(sa.Sequence("task_number_seq")))
