"""Typed, directed relationships between CIs, with their names read both ways. Pure: no I/O.

A relationship reads from its source to its target ("checkout-api runs on web-01") and
back ("web-01 runs checkout-api"). Every type means the source needs the target, so
impact flows from target to source: what is upstream of a CI depends on it, what is
downstream of it is what it depends on (ServiceNow: "a problem on the child may impact
the parent").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from itsm_contracts.events import EventData
from itsm_contracts.events.cmdb import CiRelationshipAdded, CiRelationshipRemoved
from itsm_kit.domain import Conflict, InvalidValue, choice
from itsm_cmdb.domain.classes import CiClass


class RelationshipType(StrEnum):
    DEPENDS_ON = "depends_on"
    RUNS_ON = "runs_on"
    HOSTED_ON = "hosted_on"
    CONNECTS_TO = "connects_to"
    CONTAINS = "contains"


@dataclass(frozen=True)
class TypeRule:
    name: str  # read from the source
    reverse_name: str  # read from the target
    # The classes a target may have (None: any). Software runs on infrastructure; a
    # workload or a VM is hosted on a host or a cluster.
    target_classes: frozenset[CiClass] | None = None


_INFRASTRUCTURE = frozenset({CiClass.HOST, CiClass.CONTAINER_WORKLOAD, CiClass.CLUSTER})

TYPES: Mapping[RelationshipType, TypeRule] = {
    RelationshipType.DEPENDS_ON: TypeRule("depends on", "used by"),
    RelationshipType.RUNS_ON: TypeRule("runs on", "runs", _INFRASTRUCTURE),
    RelationshipType.HOSTED_ON: TypeRule("hosted on", "hosts", frozenset({CiClass.HOST, CiClass.CLUSTER})),
    RelationshipType.CONNECTS_TO: TypeRule("connects to", "connected by"),
    RelationshipType.CONTAINS: TypeRule("contains", "member of"),
}


def check_relationship(rel_type: str, source: tuple[CiClass, bool] | None, target: tuple[CiClass, bool] | None,
                       *, source_id: str, target_id: str) -> RelationshipType:
    """The type, if a relationship of it may join these CIs (class, live) (None: no such CI)."""
    kind = choice(RelationshipType, rel_type, "a relationship type")
    for end, ci_id, ci in (("source", source_id, source), ("target", target_id, target)):
        if ci is None:
            raise InvalidValue(f"the {end} CI {ci_id} does not exist", dangling=ci_id)
        if not ci[1]:
            raise InvalidValue(f"the {end} CI {ci_id} is retired", retired=ci_id)
    if source_id == target_id:
        raise InvalidValue("a CI cannot be related to itself")
    allowed = TYPES[kind].target_classes
    if allowed is not None and target[0] not in allowed:
        raise InvalidValue(f"a {kind} relationship ends at a {' or '.join(sorted(allowed))}, not a {target[0]}")
    return kind


class DuplicateRelationship(Conflict):
    def __init__(self, existing_id: str):
        super().__init__("this relationship already exists", existing_id=existing_id)


@dataclass
class Relationship:
    """Its own aggregate: added (version 1), then perhaps removed (version 2), never changed."""

    id: str
    source_id: str
    target_id: str
    type: RelationshipType
    created_at: datetime
    created_by: str  # the source (discovery tool or "manual") that added it
    removed_at: datetime | None = None
    removed_by: str | None = None
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def add(cls, *, id: str, source_id: str, target_id: str, type: RelationshipType, source: str,
            at: datetime) -> Relationship:
        relationship = cls(id, source_id, target_id, type, at, source)
        relationship.events.append((1, CiRelationshipAdded(
            relationship_id=id, source_id=source_id, target_id=target_id, relationship_type=type, added_at=at,
            data_source=source)))
        return relationship

    def remove(self, *, source: str, at: datetime) -> None:
        if self.removed_at is not None:
            raise Conflict(f"relationship {self.id} was removed at {self.removed_at.isoformat()}")
        self.removed_at, self.removed_by = at, source
        self.events.append((2, CiRelationshipRemoved(
            relationship_id=self.id, source_id=self.source_id, target_id=self.target_id, relationship_type=self.type,
            removed_at=at, data_source=source)))

    def active_at(self, at: datetime) -> bool:
        return self.created_at <= at and (self.removed_at is None or self.removed_at > at)
