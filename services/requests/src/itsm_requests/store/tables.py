"""Every table of the requests database (migrations write the same out, revision by revision)."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY, BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, Numeric, PrimaryKeyConstraint,
    Sequence, String, Table, Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from itsm_kit.db import kit_metadata  # noqa: F401  (outbox, inbox: created by the kit's helpers)
from itsm_kit.timeline import activity_table

metadata = MetaData()

request_number = Sequence("request_number_seq", start=1001, metadata=metadata)
item_number = Sequence("request_item_number_seq", start=1001, metadata=metadata)
task_number = Sequence("task_number_seq", start=1001, metadata=metadata)


def _record_columns() -> list[Column]:
    """When a record was made and changed, and its version (If-Match; an aggregate's event sequence)."""
    return [
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("version", BigInteger, nullable=False),
    ]


# --- Catalogue: what may be ordered, its form and its fulfilment flow.
catalog_categories = Table(
    "catalog_categories",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("position", Integer, nullable=False),  # order in the catalogue
    *_record_columns(),
)

catalog_items = Table(
    "catalog_items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("category_id", String(36), ForeignKey("catalog_categories.id"), nullable=False),
    Column("short_description", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    # Who may order it: members of any of these groups (the token's groups); empty: everyone.
    Column("groups", ARRAY(String(255)), nullable=False),
    Column("price", Numeric(12, 2)),
    Column("currency", String(3)),
    Column("delivery_hours", Integer),  # expected delivery time
    # SLA targets of a requested item (the SLA service times them); null: no target of that kind.
    Column("response_target_minutes", Integer),
    Column("fulfilment_target_minutes", Integer),
    # The current version of the form (JSON Schema) and of the fulfilment flow (stages); every version is kept in
    # catalog_item_versions, and a requested item names the one it was ordered with.
    Column("form_version", Integer, nullable=False),
    Column("form", JSONB, nullable=False),
    Column("flow", JSONB, nullable=False),
    Column("updated_by", String(255), nullable=False),
    *_record_columns(),
    Index("catalog_items_by_category", "category_id"),
)

catalog_item_versions = Table(
    "catalog_item_versions",
    metadata,
    Column("item_id", String(36), ForeignKey("catalog_items.id", ondelete="CASCADE"), nullable=False),
    Column("form_version", Integer, nullable=False),
    Column("form", JSONB, nullable=False),
    Column("flow", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=False),
    PrimaryKeyConstraint("item_id", "form_version"),
)

# --- Requests: one aggregate, a request with its requested items, their approvals and their tasks.
requests = Table(
    "requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("requested_by", String(255), nullable=False),  # who ordered (the token's subject)
    Column("requested_for", String(255), nullable=False),  # who it is for (the same, or someone they order for)
    Column("short_description", String(300), nullable=False),
    Column("state", String(30), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    *_record_columns(),
    Index("requests_by_requested_by", "requested_by", "opened_at"),
    Index("requests_by_requested_for", "requested_for", "opened_at"),
    Index("requests_by_state", "state", "opened_at"),
)

request_items = Table(
    "request_items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    Column("number", String(20), nullable=False, unique=True),
    Column("position", Integer, nullable=False),
    Column("catalog_item_id", String(36), nullable=False),
    Column("form_version", Integer, nullable=False),  # the form the answers were checked against
    Column("name", String(200), nullable=False),
    Column("category", String(100)),
    Column("quantity", Integer, nullable=False),
    Column("answers", JSONB, nullable=False),
    Column("state", String(30), nullable=False),
    Column("stage", Integer, nullable=False),  # index in flow of the stage under way (len(flow): all done)
    Column("flow", JSONB, nullable=False),  # the item's flow as it was ordered (a later edit changes nothing here)
    Column("price", Numeric(12, 2)),
    Column("currency", String(3)),
    Column("response_target_minutes", Integer),
    Column("fulfilment_target_minutes", Integer),
    Column("closed_at", DateTime(timezone=True)),
    Index("request_items_by_request", "request_id", "position"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", String(36), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("approver", String(20), nullable=False),  # manager | group
    Column("group_name", String(100)),
    Column("rule", String(10), nullable=False),  # any | all
    Column("approvers", ARRAY(String(255)), nullable=False),  # who is asked, fixed when the stage began
    Column("decisions", JSONB, nullable=False),  # [{by, decision, comment, at}]
    Column("state", String(20), nullable=False),  # requested | approved | rejected | canceled
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Index("approvals_by_request", "request_id"),
    Index("approvals_waiting_by_approver", "approvers", postgresql_using="gin"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    # What the task is for: a requested item (its flow made it), or an incident, change or request (a work-order
    # template made it). request_id is set for a requested item's tasks: they belong to the request aggregate.
    Column("record_type", String(20), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("request_id", String(36), ForeignKey("requests.id", ondelete="CASCADE")),
    Column("stage", Integer),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("assignment_group", String(100)),
    Column("assignee", String(255)),
    Column("state", String(20), nullable=False),
    Column("dispatch_rule", String(200)),  # the rule that chose its group, as named when it did
    Column("dispatch_rule_version", Integer),
    Column("template", String(100)),  # the work-order template that made it
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    *_record_columns(),
    Index("tasks_by_record", "record_type", "record_id"),
    Index("tasks_by_request", "request_id"),
    Index("tasks_by_assignee", "assignee", "state"),
    Index("tasks_by_group", "assignment_group", "state"),
)

request_activity = activity_table(metadata, "request")

# --- Dispatch: rules as data, each group's method, and the copies the rules and methods read.
dispatch_rules = Table(
    "dispatch_rules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("position", Integer, nullable=False),  # evaluation order: the first match wins
    Column("description", Text, nullable=False),
    Column("record_types", ARRAY(String(20)), nullable=False),  # incident | problem | task
    Column("conditions", JSONB, nullable=False),
    Column("assignment_group", String(100), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("updated_by", String(255), nullable=False),
    *_record_columns(),
    Index("dispatch_rules_by_position", "position"),
)

dispatch_groups = Table(
    "dispatch_groups",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("method", String(20), nullable=False),  # round_robin | least_loaded | none
    Column("last_assignee", String(255)),  # round robin: who got the last one
    Column("updated_by", String(255), nullable=False),
    *_record_columns(),
)

dispatch_decisions = Table(
    "dispatch_decisions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("record_type", String(20), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("dispatch_rule", String(200)),
    Column("dispatch_rule_version", Integer),
    Column("assignment_group", String(100)),
    Column("assignee", String(255)),
    Column("method", String(20)),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Index("dispatch_decisions_by_record", "record_type", "record_id"),
)

# The directory's people and groups (itsm.directory), as dispatch and approvals need them.
people = Table(
    "people",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("name", String(200), nullable=False),
    Column("manager", String(100)),
    Column("location", String(100)),
    Column("active", Boolean, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),  # the newest event wins
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_name", String(100), nullable=False),
    Column("username", String(100), nullable=False),
    PrimaryKeyConstraint("group_name", "username"),
)

directory_groups = Table(
    "directory_groups",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("group_id", String(36), nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
)

# CIs as dispatch rules see them (itsm.cmdb): class and owner group.
cis = Table(
    "cis",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("ci_class", String(40), nullable=False),
    Column("owner_group", String(100)),
    Column("sequence", BigInteger, nullable=False),
    Index("cis_by_name", "name"),
)

# Open work per record (incidents, problems from their events; tasks from this service): least loaded reads it.
open_work = Table(
    "open_work",
    metadata,
    Column("record_type", String(20), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("assignment_group", String(100)),
    Column("assignee", String(255)),
    Column("priority", Integer),
    Column("sequence", BigInteger, nullable=False),  # the record's event sequence: an older event changes nothing
    # dispatch helper (0004): a resolved record stays as a row that is not open, so that a reopen finds its
    # assignee and priority again and a late older event cannot bring it back.
    Column("open", Boolean, nullable=False, server_default="true"),
    PrimaryKeyConstraint("record_type", "record_id"),
    Index("open_work_by_assignee", "assignee"),
)

# dispatch helper (0004): one row whose generation changes with every write to dispatch_rules, in the writer's
# transaction. Each process keeps the rules compiled and reads only this row per decision: another value means
# another replica changed the rules, so they are read again (a change applies to the next decision everywhere).
dispatch_rules_generation = Table(
    "dispatch_rules_generation",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("generation", String(36), nullable=False),  # a fresh uuid per write: never the same twice
)

# --- Work orders: named templates that pre-fill a record's fields and add its tasks.
work_order_templates = Table(
    "work_order_templates",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("record_type", String(20), nullable=False),  # incident | change | request
    Column("description", Text, nullable=False),
    Column("fields", JSONB, nullable=False),  # field -> value the record gets
    Column("tasks", JSONB, nullable=False),  # [{name, description, assignment_group}]
    Column("active", Boolean, nullable=False),
    Column("updated_by", String(255), nullable=False),
    *_record_columns(),
)
