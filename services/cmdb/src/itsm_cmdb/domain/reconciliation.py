"""Identification and reconciliation of what discovery sources report. Pure: no I/O.

An import names its source and lists CIs and relationships. Each CI is identified by
its class's identification rules against the live CIs (the store finds the owners of
the payload's identity keys in one query); a match is reconciled field by field under
the source priorities, no match is registered. The plan says, per item, created,
updated, unchanged or rejected and why; the handler writes it set-based.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from itsm_kit.domain import DomainError, InvalidValue
from itsm_cmdb.domain.ci import ConfigurationItem, OperationalStatus, identified_by, split_fields
from itsm_cmdb.domain.classes import CORE_FIELDS, CiClass, schema_of
from itsm_cmdb.domain.relationships import Relationship, check_relationship

# A source nobody ranked, "manual" included, has this priority. Smaller numbers win.
DEFAULT_PRIORITY = 100
# Where a source whose data on a CI went stale ranks on that CI: below every ranked source.
STALE = 10_000


@dataclass(frozen=True)
class SourcePriorities:
    """Each source's priority, per-field exceptions ("vmware owns cpu_count at 5"), and how long
    each source's data on a CI stays fresh without the source reporting the CI again."""

    sources: Mapping[str, tuple[int, Mapping[str, int]]] = field(default_factory=dict)
    stale_after: Mapping[str, timedelta] = field(default_factory=dict)

    def __call__(self, source: str, field_name: str) -> int:
        priority, by_field = self.sources.get(source, (DEFAULT_PRIORITY, {}))
        return by_field.get(field_name, priority)

    def on_ci(self, last_seen: Mapping[str, datetime], *, at: datetime,
              reporting: str) -> Callable[[str, str], int]:
        """The priorities as they stand on one CI (`last_seen`: when each source last reported it).

        A data refresh rule, as ServiceNow has them: a source that has not reported the CI for
        longer than its `stale_after` holds its values on it no longer; any source that reports
        them now may overwrite them, until the stale source reports the CI again and, ranking
        higher, takes them back. A source that never reported the CI (a person editing it) does
        not go stale. The reporting source is reporting it now.
        """
        stale = {s for s, seen in last_seen.items()
                 if s != reporting and s in self.stale_after and at - seen > self.stale_after[s]}
        if not stale:
            return self
        return lambda source, field_name: STALE if source in stale else self(source, field_name)


def is_missing(last_seen: Mapping[str, datetime], retire_after: Mapping[str, timedelta], at: datetime) -> bool:
    """Whether discovery no longer finds a CI, which then retires: some source reported it, and
    every source that did retires what it misses (`retire_after`) and has missed it for longer
    than that. A CI also reported by a source without that rule, or never reported (registered
    by hand), stays."""
    return bool(last_seen) and all(
        source in retire_after and at - seen > retire_after[source] for source, seen in last_seen.items())


def check_priorities(priority: int, by_field: Mapping[str, int]) -> None:
    for name, value in {"": priority, **by_field}.items():
        if not 1 <= value <= 1000:
            raise InvalidValue(f"a priority runs from 1 (wins) to 1000, got {value}" + (f" for {name}" if name else ""))


@dataclass(frozen=True)
class ReportedCi:
    index: int
    ref: str | None
    ci_class: CiClass
    fields: dict[str, Any]  # validated, flat (core fields and attributes), nothing None
    keys: list[str]  # identity keys, in the class's rule order


def read_item(index: int, item: Mapping[str, Any]) -> ReportedCi:
    """One import item, validated; InvalidValue says why it cannot be used."""
    schema = schema_of(item["ci_class"])
    attributes = item.get("attributes") or {}
    clashing = sorted(set(attributes) & set(CORE_FIELDS))
    if clashing:
        raise InvalidValue(f"{', '.join(clashing)} go beside the attributes, not among them")
    fields = split_fields(schema, {**{k: item.get(k) for k in CORE_FIELDS}, **attributes}, complete=False)
    if fields.get("operational_status") is OperationalStatus.RETIRED:
        raise InvalidValue("an import cannot retire a CI; retire it through its status")
    keys = schema.identity_keys(fields)
    if not keys:
        raise InvalidValue(f"a {schema.ci_class} is identified by {schema.rules_text()}: give at least one")
    return ReportedCi(index, item.get("ref"), schema.ci_class, fields, keys)


@dataclass
class ItemOutcome:
    index: int
    ref: str | None
    outcome: str  # created | updated | unchanged | rejected
    ci_id: str | None = None
    changed: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # field -> the higher-priority source that holds it
    reason: str | None = None


@dataclass
class ImportPlan:
    items: list[ItemOutcome]
    created: list[ConfigurationItem] = field(default_factory=list)
    updated: list[tuple[ConfigurationItem, int]] = field(default_factory=list)  # with the version loaded
    provenance_only: list[ConfigurationItem] = field(default_factory=list)  # a higher source took a same value
    keys_added: dict[str, str] = field(default_factory=dict)  # identity key -> CI id
    keys_removed: list[str] = field(default_factory=list)
    unverified: dict[str, int] = field(default_factory=dict)  # keys the store has not been asked about -> item
    refs: dict[str, str | None] = field(default_factory=dict)  # ref -> CI id (None: its item was rejected)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("created", "updated", "unchanged", "rejected"), 0)
        for item in self.items:
            counts[item.outcome] += 1
        return counts


def _clone(ci: ConfigurationItem) -> ConfigurationItem:
    return dataclasses.replace(ci, attributes=dict(ci.attributes), provenance=dict(ci.provenance), events=[],
                               history=[])


def plan_import(items: list[ReportedCi | ItemOutcome], *, owners: Mapping[str, str], loaded: Mapping[str,
                ConfigurationItem], source: str, priority: SourcePriorities, at: datetime,
                new_id: Callable[[], str], refused: Mapping[int, str] | None = None,
                last_seen: Mapping[str, Mapping[str, datetime]] | None = None) -> ImportPlan:
    """Decide every item in payload order.

    `items` are read items, or outcomes of items that could not be read (rejected).
    `owners` maps the identity keys the payload names to the live CI holding each;
    `loaded` holds those CIs, and `last_seen` when each source last reported them (for
    staleness). `refused` rejects items by index (keys the store found taken after a first
    plan). Each CI is touched by one item at most: a later item that identifies the same CI
    is rejected as a duplicate.
    """
    plan = ImportPlan(items=[])
    owner = dict(owners)  # as this payload changes it
    touched: dict[str, int] = {}  # CI id -> the item that identified it
    cis = dict(loaded)
    for item in items:
        outcome = item if isinstance(item, ItemOutcome) else _plan_one(item, plan, owner, touched, cis, source,
                                                                       priority, at, new_id, refused or {},
                                                                       last_seen or {})
        if outcome.ref is not None:
            plan.refs.setdefault(outcome.ref, outcome.ci_id if outcome.outcome != "rejected" else None)
        plan.items.append(outcome)
    updated = {ci.id for ci, _ in plan.updated}
    plan.provenance_only = [ci for ci in plan.provenance_only if ci.id not in updated]
    return plan


def _rejected(item: ReportedCi | ItemOutcome, reason: str) -> ItemOutcome:
    return ItemOutcome(item.index, item.ref, "rejected", reason=reason)


def _plan_one(item: ReportedCi, plan: ImportPlan, owner: dict[str, str], touched: dict[str, int],
              cis: dict[str, ConfigurationItem], source: str, priorities: SourcePriorities, at: datetime,
              new_id: Callable[[], str], refused: Mapping[int, str],
              last_seen: Mapping[str, Mapping[str, datetime]]) -> ItemOutcome:
    if item.index in refused:
        return _rejected(item, refused[item.index])
    if item.ref is not None and item.ref in plan.refs:
        return _rejected(item, f"ref {item.ref!r} names an earlier item too")
    matches = [(key, owner[key]) for key in item.keys if owner.get(key)]
    if not matches:
        return _create(item, plan, owner, touched, source, at, new_id)
    key, ci_id = matches[0]
    others = [(k, other) for k, other in matches if other != ci_id]
    if others:
        return _rejected(item, f"its {identified_by(key)} identifies CI {ci_id} but its "
                               f"{identified_by(others[0][0])} identifies CI {others[0][1]}")
    if ci_id in touched:
        return _rejected(item, f"it identifies the same CI as item {touched[ci_id]}")
    loaded = cis[ci_id]
    priority = priorities.on_ci(last_seen.get(ci_id, {}), at=at, reporting=source)
    if loaded.is_live and item.fields.get("operational_status") is not OperationalStatus.RETIRED:
        changed, kept, taken = loaded.weigh(item.fields, source=source, priority=priority)
        if not changed and not taken:  # the common case of a repeated import: nothing to copy or write
            touched[ci_id] = item.index
            return ItemOutcome(item.index, item.ref, "unchanged", ci_id, [], kept)
    ci = _clone(loaded)
    try:
        changed, kept = ci.reconcile(item.fields, source=source, priority=priority, at=at)
    except DomainError as exc:
        return _rejected(item, str(exc))
    touched[ci_id] = item.index
    cis[ci_id] = ci
    if set(changed) & ci.schema.identifying:
        keys_before, keys_after = set(loaded.identity_keys()), set(ci.identity_keys())
        taken_keys = [k for k in keys_after - keys_before if owner.get(k) not in (None, ci_id)]
        if taken_keys:
            del touched[ci_id]
            cis[ci_id] = loaded
            return _rejected(item, f"its {identified_by(taken_keys[0])} identifies another CI "
                                   f"({owner[taken_keys[0]]})")
        for k in keys_before - keys_after:
            owner.pop(k, None)
            plan.keys_removed.append(k)
            plan.keys_added.pop(k, None)
        for k in keys_after - keys_before:
            owner[k] = ci_id
            plan.keys_added[k] = ci_id
            if k not in item.keys:
                plan.unverified[k] = item.index
    if changed:
        plan.updated.append((ci, ci.version - len(ci.events)))
        return ItemOutcome(item.index, item.ref, "updated", ci_id, changed, kept)
    plan.provenance_only.append(ci)
    return ItemOutcome(item.index, item.ref, "unchanged", ci_id, [], kept)


def _create(item: ReportedCi, plan: ImportPlan, owner: dict[str, str], touched: dict[str, int], source: str,
            at: datetime, new_id: Callable[[], str]) -> ItemOutcome:
    try:
        ci = ConfigurationItem.from_fields(id=new_id(), schema=schema_of(item.ci_class), fields=item.fields,
                                           source=source, at=at)
    except DomainError as exc:
        return _rejected(item, str(exc))
    for key in item.keys:
        owner[key] = ci.id
        plan.keys_added[key] = ci.id
    touched[ci.id] = item.index
    plan.created.append(ci)
    return ItemOutcome(item.index, item.ref, "created", ci.id, sorted(item.fields))


@dataclass(frozen=True)
class ReportedRelationship:
    index: int
    type: str
    source: str | None = None  # the ref of an item of this payload...
    source_id: str | None = None  # ...or the id of a CI
    target: str | None = None
    target_id: str | None = None


@dataclass
class RelationshipOutcome:
    index: int
    outcome: str  # created | unchanged | rejected
    relationship_id: str | None = None
    reason: str | None = None


def _end(rel: ReportedRelationship, end: str, refs: Mapping[str, str | None]) -> str:
    ref, ci_id = getattr(rel, end), getattr(rel, f"{end}_id")
    if (ref is None) == (ci_id is None):
        raise InvalidValue(f"name the {end} by ref (an item of this import) or by {end}_id (a CI), one of them")
    if ci_id is not None:
        return ci_id
    if ref not in refs:
        raise InvalidValue(f"no item of this import has the ref {ref!r}", dangling=ref)
    if refs[ref] is None:
        raise InvalidValue(f"its {end} item ({ref!r}) was rejected", dangling=ref)
    return refs[ref]


def plan_relationships(relationships: list[ReportedRelationship], *, refs: Mapping[str, str | None],
                       cis: Mapping[str, tuple[CiClass, bool]], active: Mapping[tuple[str, str, str], str],
                       source: str, at: datetime, new_id: Callable[[], str],
                       ) -> tuple[list[RelationshipOutcome], list[Relationship]]:
    """Each relationship: created, unchanged (it exists, or came earlier in the payload) or rejected.

    `cis` holds (class, live) of every CI the relationships name; `active` the live
    relationships among them, by (source, target, type).
    """
    outcomes, added = [], []
    seen = dict(active)
    for rel in relationships:
        try:
            source_id, target_id = _end(rel, "source", refs), _end(rel, "target", refs)
            kind = check_relationship(rel.type, cis.get(source_id), cis.get(target_id), source_id=source_id,
                                      target_id=target_id)
        except DomainError as exc:
            outcomes.append(RelationshipOutcome(rel.index, "rejected", reason=str(exc)))
            continue
        existing = seen.get((source_id, target_id, kind))
        if existing is not None:
            outcomes.append(RelationshipOutcome(rel.index, "unchanged", existing))
            continue
        relationship = Relationship.add(id=new_id(), source_id=source_id, target_id=target_id, type=kind,
                                        source=source, at=at)
        seen[(source_id, target_id, kind)] = relationship.id
        added.append(relationship)
        outcomes.append(RelationshipOutcome(rel.index, "created", relationship.id))
    return outcomes, added
