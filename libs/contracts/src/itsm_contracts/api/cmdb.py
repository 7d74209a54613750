"""CMDB resources as the cmdb service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from itsm_contracts.api.values import Duration, WholeNumber

CiClass = Literal[
    "business_service", "application", "service_instance", "host", "container_workload", "database",
    "network_device", "cluster",
]
OperationalStatus = Literal["operational", "degraded", "down", "maintenance", "retired"]
LiveStatus = Literal["operational", "degraded", "down", "maintenance"]
Environment = Literal["production", "staging", "test", "development", "disaster_recovery"]
RelationshipType = Literal["depends_on", "runs_on", "hosted_on", "connects_to", "contains"]
AttributeValue = str | int | float | bool
SourceName = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_.:-]*$",
                                  description='a discovery source ("vmware", "kubernetes", ...) or "manual"')]
CiName = Annotated[str, Field(min_length=1, max_length=255)]
Criticality = Annotated[WholeNumber, Field(ge=1, le=4, description="1 most critical .. 4 not critical")]
Group = Annotated[str, Field(min_length=1, max_length=100)]
CiId = Annotated[str, Field(min_length=1, max_length=36)]

ATTRIBUTES = ("the class's attributes by name (GET /cmdb/model lists them with their types); the class's "
              "schema validates them")


class CiCreate(BaseModel):
    name: CiName
    ci_class: CiClass
    criticality: Criticality
    operational_status: OperationalStatus = "operational"
    owner_group: Group | None = None
    environment: Environment | None = None
    attributes: dict[str, AttributeValue] = Field(default={}, description=ATTRIBUTES)


class CiUpdate(BaseModel):
    """PATCH by a person: the fields sent change whichever source wrote them; null empties an
    optional field, and an attribute set to null is removed."""

    model_config = ConfigDict(extra="forbid")

    name: CiName | None = None
    criticality: Criticality | None = None
    owner_group: Group | None = None
    environment: Environment | None = None
    attributes: dict[str, AttributeValue | None] = Field(default={}, description=ATTRIBUTES)

    @model_validator(mode="after")
    def _something_sent(self) -> CiUpdate:
        if not self.model_fields_set - ({"attributes"} if not self.attributes else set()):
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        sent = self.model_dump(exclude_unset=True)
        return {k: v for k, v in sent.items() if k != "attributes"} | sent.get("attributes", {})


class StatusChange(BaseModel):
    status: OperationalStatus = Field(description="retired is for good: the CI's relationships are removed")


class CiPublic(BaseModel):
    id: str
    name: str
    ci_class: CiClass
    criticality: int
    operational_status: OperationalStatus
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="also the ETag")
    owner_group: str | None = None
    environment: Environment | None = None
    attributes: dict[str, Any] = {}
    provenance: dict[str, str] = Field(default={}, description="field -> the source that wrote its value")
    last_seen: dict[str, datetime] = Field(
        default={}, description="discovery source -> when it last reported this CI (on a read of the CI itself)")
    as_of: datetime | None = Field(default=None, description="set when this is the CI as it was at that time")


class CiQuery(BaseModel):
    """Which CIs, newest first: every filter given must hold."""

    ci_class: list[CiClass] = []
    operational_status: list[OperationalStatus] = []
    environment: Environment | None = None
    owner_group: str | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200, description="in the name")
    source: str | None = Field(default=None, max_length=60,
                               description="reported by this discovery source (with unseen_for: not since)")
    unseen_for: Duration | None = Field(
        default=None, examples=["P30D"],
        description="stale CIs: discovery (or `source`) has not reported them for this long; CIs no source "
                    "ever reported (registered by hand) are not in it")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=200)


class CiPage(BaseModel):
    items: list[CiPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class CiBrief(BaseModel):
    id: str
    name: str
    ci_class: CiClass
    criticality: int
    operational_status: OperationalStatus


class RelationshipCreate(BaseModel):
    source_id: CiId
    type: RelationshipType
    target_id: CiId


class RelationshipPublic(BaseModel):
    id: str
    source_id: str
    type: RelationshipType
    target_id: str
    name: str = Field(description='read from the source: "depends on", "runs on", ...')
    reverse_name: str = Field(description='read from the target: "used by", "runs", ...')
    created_at: datetime
    created_by: str = Field(description="the source that added it")
    removed_at: datetime | None = None
    removed_by: str | None = None


class CiRelationship(BaseModel):
    """One relationship seen from a CI: `label` reads from this CI to `other`."""

    id: str
    type: RelationshipType
    direction: Literal["outgoing", "incoming"] = Field(description="outgoing: this CI is the relationship's source")
    label: str = Field(description='"depends on" outgoing, "used by" incoming, ...')
    other: CiBrief
    created_at: datetime
    created_by: str


class CiRelationshipList(BaseModel):
    items: list[CiRelationship]
    as_of: datetime | None = None


class ImpactedCi(CiBrief):
    depth: int = Field(description="relationships between it and the analysed CI (1: directly related)")
    path: list[str] = Field(description="CI ids from the analysed CI to this one, both included; a shortest one")
    via: RelationshipType = Field(description="the type of the path's last relationship")
    effect: Literal["down", "degraded"] | None = Field(
        default=None, description="upstream: down if the analysed CI's failure takes it down; degraded if "
                                  "redundancy on the way (min_members_up) keeps it up. Unset downstream")


class ImpactAnalysis(BaseModel):
    ci: CiBrief
    direction: Literal["upstream", "downstream"] = Field(
        description="upstream: what depends on the CI (affected if it fails); downstream: what it depends on")
    max_depth: int
    items: list[ImpactedCi] = Field(description="each CI once, at its shortest depth; nearest first")
    business_services: list[CiBrief]
    applications: list[CiBrief]


class FieldChange(BaseModel):
    old: Any = None
    new: Any = None


class HistoryEntry(BaseModel):
    at: datetime
    kind: Literal["created", "updated", "status_changed", "retired", "relationship_added",
                  "relationship_removed"]
    source: str = Field(description='the source that made the change: a discovery source or "manual"')
    actor: str | None = Field(default=None, description="the user, for changes made through the API")
    version: int | None = Field(default=None, description="the CI's version after the change (field changes)")
    changes: dict[str, FieldChange] = {}
    relationship: RelationshipPublic | None = None


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_cursor: str | None


class ImportItem(BaseModel):
    """A CI as a source sees it. Left out or null: not reported, no change. The class and the
    values are checked per item, so one bad item is rejected and the others go on."""

    ref: str | None = Field(default=None, min_length=1, max_length=200,
                            description="how this import's relationships name the item")
    ci_class: str = Field(max_length=40)
    name: str | None = Field(default=None, max_length=1000)
    criticality: int | None = Field(default=None, description="needed when the item creates a CI")
    operational_status: str | None = Field(default=None, max_length=40)
    owner_group: str | None = Field(default=None, max_length=1000)
    environment: str | None = Field(default=None, max_length=40)
    attributes: dict[str, Any] = {}


class ImportRelationship(BaseModel):
    """Each end by `source`/`target` (the ref of an item of this import) or by `source_id`/
    `target_id` (an existing CI)."""

    type: str = Field(max_length=40)
    source: str | None = Field(default=None, max_length=200)
    source_id: str | None = Field(default=None, max_length=36)
    target: str | None = Field(default=None, max_length=200)
    target_id: str | None = Field(default=None, max_length=36)


class ImportRequest(BaseModel):
    source: SourceName
    mode: Literal["per_item", "all_or_nothing"] = Field(
        default="per_item",
        description="per_item: rejected items are reported and the valid ones commit together; all_or_nothing: "
                    "one rejected item and nothing is written (a 422 carries the report)")
    items: list[ImportItem] = Field(default=[], max_length=20_000)
    relationships: list[ImportRelationship] = Field(default=[], max_length=100_000)


class ImportItemResult(BaseModel):
    index: int
    ref: str | None = None
    outcome: Literal["created", "updated", "unchanged", "rejected"]
    ci_id: str | None = None
    changed: list[str] = Field(default=[], description="the fields written")
    kept: dict[str, str] = Field(default={}, description="fields left as a higher-priority source wrote them")
    reason: str | None = Field(default=None, description="why it was rejected")


class ImportRelationshipResult(BaseModel):
    index: int
    outcome: Literal["created", "unchanged", "rejected"]
    relationship_id: str | None = None
    reason: str | None = None


class ImportReport(BaseModel):
    source: str
    mode: Literal["per_item", "all_or_nothing"]
    committed: bool = Field(description="false when all_or_nothing refused the import")
    counts: dict[str, int] = Field(description="items: created, updated, unchanged, rejected")
    relationship_counts: dict[str, int] = Field(description="created, unchanged, rejected")
    items: list[ImportItemResult]
    relationships: list[ImportRelationshipResult]


class SourceUpdate(BaseModel):
    priority: int = Field(ge=1, le=1000, description="smaller wins; a source nobody ranked has 100")
    field_priorities: dict[str, Annotated[int, Field(ge=1, le=1000)]] = Field(
        default={}, description="exceptions by field name, e.g. {\"cpu_count\": 5}")
    description: str | None = Field(default=None, max_length=500)
    stale_after: Duration | None = Field(
        default=None, examples=["P7D"],
        description="a data refresh rule: once this source has not reported a CI for this long (ISO 8601 "
                    "duration or seconds), sources it outranks may overwrite its values on that CI, until it "
                    "reports the CI again; unset, its values hold for good")
    retire_missing_after: Duration | None = Field(
        default=None, examples=["P30D"],
        description="a CI that every source that reported it has missed for longer than its own rule allows "
                    "retires (relationships removed, events published); a CI also reported by a source "
                    "without this rule, or registered by hand, never retires for it")


class SourcePublic(SourceUpdate):
    name: str
    updated_at: datetime
    updated_by: str


class SourceList(BaseModel):
    items: list[SourcePublic]
    default_priority: int


class AttributeSchema(BaseModel):
    name: str
    type: Literal["string", "integer", "number", "boolean", "ip_address", "choice"]
    required: bool
    choices: list[str] = []
    description: str = ""
    minimum: int | None = Field(default=None, description="the smallest value a number may take")


class ClassSchema(BaseModel):
    ci_class: CiClass
    label: str
    attributes: list[AttributeSchema]
    identified_by: list[list[str]] = Field(description="identification rules, tried in order")


class RelationshipTypeSchema(BaseModel):
    type: RelationshipType
    name: str
    reverse_name: str
    target_classes: list[CiClass] | None = Field(description="null: a target of any class")


class CmdbModel(BaseModel):
    classes: list[ClassSchema]
    relationship_types: list[RelationshipTypeSchema]
    operational_statuses: list[OperationalStatus]
    environments: list[Environment]
