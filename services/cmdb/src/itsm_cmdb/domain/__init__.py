"""The CMDB's rules: CI classes and their attributes, the CI aggregate with provenance and
history, typed relationships, and the reconciliation of what discovery sources report.
Pure: no I/O."""

from itsm_kit.domain import Conflict, InvalidValue
from itsm_cmdb.domain.ci import (
    CRITICALITY_LABELS, LIVE, MANUAL, STATUS_TRANSITIONS, Change, ConfigurationItem, DuplicateCi, OperationalStatus,
    as_of, identified_by,
)
from itsm_cmdb.domain.classes import (
    CORE_FIELDS, SCHEMAS, Attribute, AttrType, CiClass, ClassSchema, Environment, schema_of,
)
from itsm_cmdb.domain.impact import Effect, failure_effects
from itsm_cmdb.domain.reconciliation import (
    DEFAULT_PRIORITY, STALE, ImportPlan, ItemOutcome, RelationshipOutcome, ReportedCi, ReportedRelationship,
    SourcePriorities, check_priorities, is_missing, plan_import, plan_relationships, read_item,
)
from itsm_cmdb.domain.relationships import (
    TYPES, DuplicateRelationship, Relationship, RelationshipType, TypeRule, check_relationship,
)

__all__ = [
    "CORE_FIELDS", "CRITICALITY_LABELS", "DEFAULT_PRIORITY", "LIVE", "MANUAL", "SCHEMAS", "STALE", "STATUS_TRANSITIONS",
    "TYPES",
    "AttrType", "Attribute", "Change", "CiClass", "ClassSchema", "ConfigurationItem", "Conflict", "DuplicateCi",
    "DuplicateRelationship", "Effect", "Environment", "ImportPlan", "InvalidValue", "ItemOutcome", "OperationalStatus",
    "Relationship", "RelationshipOutcome", "RelationshipType", "ReportedCi", "ReportedRelationship",
    "SourcePriorities", "TypeRule", "as_of", "check_priorities", "check_relationship", "failure_effects",
    "identified_by", "is_missing", "plan_import", "plan_relationships", "read_item", "schema_of",
]
