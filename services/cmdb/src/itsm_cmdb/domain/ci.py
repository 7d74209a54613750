"""Configuration items, as ITIL service configuration management keeps them in a CMDB. Pure: no I/O.

A CI has core fields (name, criticality, operational status, owner group, environment)
and its class's attributes. Every field remembers which source wrote it (provenance),
and every change is kept as a history entry (who, which source, when, old and new), so
the CI can be shown as it was at any time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from itsm_contracts.events import EventData
from itsm_contracts.events.cmdb import CiCreated, CiRetired, CiStatusChanged, CiUpdated
from itsm_kit.domain import Conflict, InvalidValue, RaisesEvents, check_transition, choice
from itsm_cmdb.domain.classes import CORE_FIELDS, CiClass, ClassSchema, Environment, schema_of

MANUAL = "manual"  # the source of edits made by people through the API


class OperationalStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


LIVE = frozenset(s for s in OperationalStatus if s is not OperationalStatus.RETIRED)
# Live statuses move freely among themselves; retired is for good (a CI that comes back
# is a new CI: its old record stays as history).
STATUS_TRANSITIONS: Mapping[OperationalStatus, frozenset[OperationalStatus]] = {
    **{s: frozenset(OperationalStatus) - {s} for s in LIVE},
    OperationalStatus.RETIRED: frozenset(),
}

# Business criticality, ServiceNow's scale: how much the business suffers when the CI fails.
# Change risk and incident impact read it, so it has no default: someone must decide.
CRITICALITY_LABELS = {1: "most critical", 2: "somewhat critical", 3: "less critical", 4: "not critical"}
MAX_NAME = 255
MAX_GROUP = 100


class DuplicateCi(Conflict):
    def __init__(self, ci_class: CiClass, identified_by: str, existing_id: str | None):
        self.ci_class, self.identified_by, self.existing_id = ci_class, identified_by, existing_id
        super().__init__(f"a live {ci_class} with the same {identified_by} already exists (identifying "
                         f"attributes are compared ignoring case)", existing_id=existing_id)


def identified_by(key: str) -> str:
    """The rule part of an identity key ('host/fqdn=web-01' -> 'fqdn')."""
    return key.split("/", 1)[1].split("=", 1)[0]


@dataclass(frozen=True)
class Change:
    """One history entry: what a version of the CI changed, by which source, when."""

    version: int
    at: datetime
    kind: str  # created | updated | status_changed | retired
    source: str
    actor: str | None
    changes: dict[str, list[Any]]  # field -> [old, new]


def check_core(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Core fields as stored (None values dropped), or InvalidValue."""
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name == "name":
            if not isinstance(value, str) or not value.strip():
                raise InvalidValue("a configuration item needs a name")
            if len(value.strip()) > MAX_NAME:
                raise InvalidValue(f"a name is at most {MAX_NAME} characters")
            value = value.strip()
        elif name == "criticality":
            if isinstance(value, bool) or value not in CRITICALITY_LABELS:
                raise InvalidValue(f"criticality runs from 1 (most critical) to 4 (not critical), got {value!r}")
        elif name == "operational_status":
            value = choice(OperationalStatus, value, "an operational status")
        elif name == "environment":
            value = choice(Environment, value, "an environment")
        elif name == "owner_group":
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_GROUP:
                raise InvalidValue(f"an owner group is a name of 1 to {MAX_GROUP} characters")
            value = value.strip()
        else:
            raise InvalidValue(f"{name} is not a field of a configuration item")
        checked[name] = value
    return checked


def split_fields(schema: ClassSchema, fields: Mapping[str, Any], *, complete: bool) -> dict[str, Any]:
    """Core fields and attributes of one class, flat and validated (None values dropped)."""
    core = check_core({k: v for k, v in fields.items() if k in CORE_FIELDS})
    attributes = schema.check_attributes({k: v for k, v in fields.items() if k not in CORE_FIELDS}, complete=complete)
    return core | attributes


@dataclass
class ConfigurationItem(RaisesEvents):
    id: str
    name: str
    ci_class: CiClass
    criticality: int
    operational_status: OperationalStatus
    created_at: datetime
    updated_at: datetime
    version: int = 0
    owner_group: str | None = None
    environment: Environment | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)  # field -> the source that wrote its value
    # (sequence, event) raised since loading; the handler stores them with the CI.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)
    # History entries since loading, stored by the handler with the CI.
    history: list[Change] = field(default_factory=list, repr=False, compare=False)

    @property
    def schema(self) -> ClassSchema:
        return schema_of(self.ci_class)

    @property
    def is_live(self) -> bool:
        return self.operational_status is not OperationalStatus.RETIRED

    def fields(self) -> dict[str, Any]:
        """Every set field, core and attributes, flat."""
        core = {name: getattr(self, name) for name in CORE_FIELDS}
        return {k: v for k, v in core.items() if v is not None} | self.attributes

    def identity_keys(self) -> list[str]:
        return self.schema.identity_keys(self.fields())

    @classmethod
    def register(cls, *, id: str, ci_class: str, name: str, criticality: int | None,
                 operational_status: str = "operational", owner_group: str | None = None,
                 environment: str | None = None, attributes: Mapping[str, Any] | None = None,
                 source: str = MANUAL, actor: str | None = None, at: datetime) -> ConfigurationItem:
        schema = schema_of(ci_class)
        fields = split_fields(schema, {"name": name, "criticality": criticality,
                                       "operational_status": operational_status, "owner_group": owner_group,
                                       "environment": environment, **(attributes or {})}, complete=False)
        return cls.from_fields(id=id, schema=schema, fields=fields, source=source, actor=actor, at=at)

    @classmethod
    def from_fields(cls, *, id: str, schema: ClassSchema, fields: Mapping[str, Any], source: str,
                    actor: str | None = None, at: datetime) -> ConfigurationItem:
        """A new CI from fields split_fields validated: checks what a new CI needs beyond valid values."""
        if fields.get("criticality") is None:
            raise InvalidValue("a new configuration item needs a criticality (1 most critical .. 4 not critical)")
        if "name" not in fields:
            raise InvalidValue("a configuration item needs a name")
        missing = [name for name in schema.required if name not in fields]
        if missing:
            raise InvalidValue(f"a {schema.ci_class} needs the attribute{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(missing)}", missing_attributes=missing)
        status = fields.get("operational_status", OperationalStatus.OPERATIONAL)
        if status not in LIVE:
            raise InvalidValue("a configuration item starts live (operational, degraded, down or maintenance)")
        if not schema.identity_keys(fields):
            raise InvalidValue(f"a {schema.ci_class} is identified by {schema.rules_text()}: give at least one",
                               identified_by=[list(rule) for rule in schema.identified_by])
        ci = cls(id=id, name=fields["name"], ci_class=schema.ci_class, criticality=fields["criticality"],
                 operational_status=status, created_at=at, updated_at=at, owner_group=fields.get("owner_group"),
                 environment=fields.get("environment"),
                 attributes={k: v for k, v in fields.items() if k not in CORE_FIELDS},
                 provenance=dict.fromkeys((*fields, "operational_status"), source))
        ci._raise(CiCreated(ci_id=id, name=ci.name, ci_class=ci.ci_class, criticality=ci.criticality, created_at=at,
                            operational_status=ci.operational_status, environment=ci.environment,
                            owner_group=ci.owner_group, attributes=ci.attributes or None, data_source=source),
                  at, "created", source, actor, {k: [None, v] for k, v in ci.fields().items()})
        return ci

    def _raise(self, event: EventData, at: datetime, kind: str, source: str, actor: str | None,
               changes: dict[str, list[Any]]) -> None:
        self.updated_at = at
        self.record(event)
        self.history.append(Change(self.version, at, kind, source, actor, changes))

    def _set(self, name: str, value: Any) -> None:
        if name in CORE_FIELDS:
            setattr(self, name, value)
        elif value is None:
            self.attributes.pop(name, None)
        else:
            self.attributes[name] = value

    def _apply(self, values: Mapping[str, Any], *, source: str, actor: str | None, at: datetime) -> None:
        """Set the fields (status excepted), record who wrote them, raise one `updated` for them all."""
        if not values:
            return
        before = self.fields()
        self.attributes = dict(self.attributes)
        for name, value in values.items():
            self._set(name, value)
            if value is None:
                self.provenance.pop(name, None)
            else:
                self.provenance[name] = source
        self._raise(CiUpdated(ci_id=self.id, changes=dict(values), updated_at=at, data_source=source), at, "updated",
                    source, actor, {k: [before.get(k), v] for k, v in values.items()})

    def _require_live(self) -> None:
        if not self.is_live:
            raise Conflict(f"configuration item {self.id} is retired; a retired CI does not change",
                           ci_id=self.id)

    def edit(self, changes: Mapping[str, Any], *, actor: str | None, at: datetime,
             source: str = MANUAL) -> list[str]:
        """A person's change: applied whatever source wrote the field before (null empties an
        optional field). Returns the fields that changed."""
        self._require_live()
        if "operational_status" in changes:
            raise InvalidValue("the operational status changes through its own command (set_status)")
        required = {"name", "criticality"} | {a.name for a in self.schema.attributes if a.required}
        emptied = sorted(k for k, v in changes.items() if v is None and k in required)
        if emptied:
            raise InvalidValue(f"{', '.join(emptied)} cannot be emptied")
        checked = split_fields(self.schema, changes, complete=False)
        values = {k: checked.get(k) for k in changes}
        current = self.fields()
        changed = {k: v for k, v in values.items() if current.get(k) != v}
        self._apply(changed, source=source, actor=actor, at=at)
        return sorted(changed)

    def weigh(self, reported: Mapping[str, Any], *, source: str,
              priority: Callable[[str, str], int]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
        """What reconcile would do, deciding only: (fields to change with their values, fields kept
        with the source holding each, fields whose same value passes to this source)."""
        current, schema = self.fields(), self.schema
        changed: dict[str, Any] = {}
        kept: dict[str, str] = {}
        taken: list[str] = []
        for name, value in reported.items():
            holder = self.provenance.get(name)
            outranks = holder is None or (holder != source and priority(source, name) < priority(holder, name))
            if schema.same(name, current.get(name), value):
                if outranks:
                    taken.append(name)
            elif outranks or holder == source or priority(source, name) == priority(holder, name):
                changed[name] = value
            else:
                kept[name] = holder
        return changed, kept, taken

    def reconcile(self, reported: Mapping[str, Any], *, source: str, priority: Callable[[str, str], int],
                  at: datetime, actor: str | None = None) -> tuple[list[str], dict[str, str]]:
        """What a source reports, applied field by field where the source may write.

        `reported` is validated and holds no None (not reported means no change). A field
        changes when its value differs and no higher-priority source wrote it: the same
        source, a source of equal or higher priority (a smaller number) overwrites.
        A field whose value is already the reported one passes to the reporting source
        when that one ranks higher, without a new version (nothing changed).
        Returns the fields that changed and those kept, each with the source that holds it.
        """
        self._require_live()
        if reported.get("operational_status") is OperationalStatus.RETIRED:
            raise InvalidValue("an import cannot retire a CI; retire it through its status")
        changed, kept, taken = self.weigh(reported, source=source, priority=priority)
        for name in taken:
            self.provenance[name] = source
        status = changed.pop("operational_status", None)
        self._apply(changed, source=source, actor=actor, at=at)
        if status is not None:
            self.set_status(status, source=source, actor=actor, at=at)
            changed["operational_status"] = status
        return sorted(changed), kept

    def set_status(self, status: str, *, source: str = MANUAL, actor: str | None, at: datetime) -> bool:
        """Move to another operational status; False when it already is in it. Retired is final."""
        wanted = choice(OperationalStatus, status, "an operational status")
        if wanted is self.operational_status:
            return False
        check_transition(STATUS_TRANSITIONS, "a configuration item", self.operational_status, wanted)
        before = self.operational_status
        self.operational_status = wanted
        self.provenance["operational_status"] = source
        changes = {"operational_status": [before.value, wanted.value]}
        if wanted is OperationalStatus.RETIRED:
            self._raise(CiRetired(ci_id=self.id, from_status=before, retired_at=at, data_source=source), at,
                        "retired", source, actor, changes)
        else:
            self._raise(CiStatusChanged(ci_id=self.id, from_status=before, to_status=wanted, changed_at=at,
                                        data_source=source), at, "status_changed", source, actor, changes)
        return True


def as_of(history: Iterable[Change], *, ci_id: str, ci_class: CiClass, at: datetime) -> ConfigurationItem | None:
    """The CI as its history says it was at `at` (entries in version order); None if it did not exist yet."""
    fields: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    ci = None
    for entry in history:
        if entry.at > at:
            break
        for name, (_old, new) in entry.changes.items():
            if new is None:
                fields.pop(name, None)
                provenance.pop(name, None)
            else:
                fields[name] = new
                provenance[name] = entry.source
        if ci is None:
            ci = {"created_at": entry.at}
        ci |= {"version": entry.version, "updated_at": entry.at}
    if ci is None:
        return None
    core = {name: fields.get(name) for name in CORE_FIELDS}
    return ConfigurationItem(
        id=ci_id, ci_class=ci_class, created_at=ci["created_at"], updated_at=ci["updated_at"],
        version=ci["version"], name=core["name"], criticality=core["criticality"],
        operational_status=OperationalStatus(core["operational_status"]), owner_group=core["owner_group"],
        environment=Environment(core["environment"]) if core["environment"] else None,
        attributes={k: v for k, v in fields.items() if k not in CORE_FIELDS}, provenance=provenance,
    )
