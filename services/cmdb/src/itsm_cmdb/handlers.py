"""Use cases: load, apply the rule, store the CIs and relationships with their history and events.

Concurrency. Writers run side by side, imports included (so several cmdb replicas import
at once, and one import's planning overlaps another's writing). What keeps them right:
- the database's unique indexes: one live CI per identity key, one live relationship per
  (source, target, type); two writers that create the same thing clash there;
- a version check under row locks: an import locks the CIs it changes and checks they
  are still as it read them; a person's edit locks its CI (and If-Match checks versions);
- the CMDB write lock (a transaction-level advisory lock): retiring takes it exclusively,
  every other write shared, so no CI retires while an import relates it.
A writer that clashes is run again from the start (the kit's `retrying`, around the handler,
which opens a fresh unit of work each time): it then sees what the other committed (an import
finds the CI the other created and matches it).

Import atomicity: every item is decided on its own (created, updated, unchanged or
rejected, with the reason), and the valid ones commit together in one transaction
(per_item mode). In all_or_nothing mode one rejected item or relationship and nothing
is written. Either way a failure of the database writes nothing, and the same payload
can be sent again: it is idempotent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.api.cmdb import CiQuery, ImportRequest
from itsm_kit.clock import utcnow
from itsm_kit.domain import DomainError
from itsm_kit.errors import Problem, check_version, found
from itsm_kit.ids import uuid7
from itsm_kit.unit_of_work import Contended, UnitOfWork
from itsm_cmdb.domain import (
    MANUAL, ConfigurationItem, DuplicateCi, DuplicateRelationship, Effect, ItemOutcome, OperationalStatus,
    Relationship, ReportedRelationship, SourcePriorities, as_of, check_priorities, check_relationship,
    failure_effects, identified_by, is_missing, plan_import, plan_relationships, read_item,
)
from itsm_cmdb.store import (
    CiRepository, HistoryRepository, IdentityRepository, RelationshipRepository, SightingRepository,
    SourceRepository,
)

log = logging.getLogger(__name__)
WRITE_LOCK = 0x434D4442  # "CMDB"


def new_id() -> str:
    return uuid7()  # time-ordered: primary key indexes take new CIs and relationships at their end


async def _lock(session: AsyncSession, *, exclusive: bool = False) -> None:
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(text(f"SELECT {function}(:key)"), {"key": WRITE_LOCK})


async def _store(uow: UnitOfWork, *, cis: CiRepository | None = None,
                 created: list[ConfigurationItem] = (), changed: list[ConfigurationItem] = (),
                 added: list[Relationship] = (), removed: list[Relationship] = (), actor: str | None = None) -> None:
    """Write CIs, their history and relationships, one statement per table; their events commit with the unit.

    `cis` is the repository that read the CIs the added relationships join (it knows their numbers).
    """
    session = uow.session
    cis = cis or CiRepository(session)
    await cis.add_many(list(created))
    await cis.save_many(list(changed))
    written = [*created, *changed]
    await HistoryRepository(session).add_many([(ci.id, ci.history) for ci in written])
    relationships = RelationshipRepository(session)
    await relationships.add_many(list(added), cis.seqs, actor)
    await relationships.mark_removed(list(removed), actor)
    uow.add(*written, *added, *removed)
    for ci in written:
        ci.history.clear()


async def _claim(session: AsyncSession, ci: ConfigurationItem, keys: list[str]) -> None:
    identities = IdentityRepository(session)
    taken = await identities.claim(ci.id, keys)
    if taken:
        holder = (await identities.owners(taken[:1])).get(taken[0])
        raise DuplicateCi(ci.ci_class, identified_by(taken[0]), holder)


async def _ci(cis: CiRepository, ci_id: str, *, for_update: bool = False) -> ConfigurationItem:
    return found(await cis.get(ci_id, for_update=for_update), "configuration item", ci_id)


async def _load_for_change(session: AsyncSession, ci_id: str, if_match: int | None) -> ConfigurationItem:
    ci = await _ci(CiRepository(session), ci_id, for_update=True)
    check_version("configuration item", ci_id, ci.version, if_match)
    return ci


async def register_ci(uow: UnitOfWork, *, actor: str | None = None, **fields: Any) -> ConfigurationItem:
    """A CI registered by hand; `fields` are ConfigurationItem.register's (name, class, attributes...)."""
    async with uow:
        await _lock(uow.session)
        ci = ConfigurationItem.register(id=new_id(), source=MANUAL, actor=actor, at=utcnow(), **fields)
        await _claim(uow.session, ci, ci.identity_keys())
        await _store(uow, created=[ci])
        await uow.commit()
    return ci


async def update_ci(uow: UnitOfWork, ci_id: str, changes: dict[str, Any], *, actor: str | None,
                    if_match: int | None = None) -> ConfigurationItem:
    async with uow:
        session = uow.session
        await _lock(session)
        ci = await _load_for_change(session, ci_id, if_match)
        keys_before = set(ci.identity_keys())
        if ci.edit(changes, actor=actor, at=utcnow()):
            keys_after = set(ci.identity_keys())
            await IdentityRepository(session).remove(keys_before - keys_after)
            await _claim(session, ci, sorted(keys_after - keys_before))
            await _store(uow, changed=[ci], actor=actor)
            await uow.commit()
    return ci


async def set_status(uow: UnitOfWork, ci_id: str, status: str, *, actor: str | None,
                     if_match: int | None = None) -> ConfigurationItem:
    """Retiring also removes the CI's relationships and frees its identity for a successor; it
    waits for the writes in flight and holds the others meanwhile, so nothing relates the CI as it goes."""
    async with uow:
        session = uow.session
        await _lock(session, exclusive=status == OperationalStatus.RETIRED)
        ci = await _load_for_change(session, ci_id, if_match)
        at = utcnow()
        if ci.set_status(status, actor=actor, at=at):
            removed: list[Relationship] = []
            if ci.operational_status is OperationalStatus.RETIRED:
                removed = await _retired(session, ci, source=MANUAL, at=at)
            await _store(uow, changed=[ci], removed=removed, actor=actor)
            await uow.commit()
    return ci


async def _retired(session: AsyncSession, ci: ConfigurationItem, *, source: str, at: datetime) -> list[Relationship]:
    """What retiring a CI takes with it: its relationships (returned, removed) and its identity."""
    removed = await RelationshipRepository(session).live_of(ci.id, for_update=True)
    for relationship in removed:
        relationship.remove(source=source, at=at)
    identities = IdentityRepository(session)
    await identities.remove(await identities.of(ci.id))
    return removed


async def retire_missing(uow: UnitOfWork, *, at: datetime, limit: int) -> int:
    """Retire up to `limit` CIs that discovery no longer finds (is_missing); how many retired.

    The candidates are found without blocking anyone; then, as retiring by hand, the exclusive
    write lock: the imports in flight finish first, and one that reported a candidate again
    is seen before the candidate is judged. Each retires in the name of the source that
    reported it last.
    """
    async with uow:
        session = uow.session
        rules = {s["name"]: s["retire_missing_after"] for s in await SourceRepository(session).all()
                 if s["retire_missing_after"] is not None}
        sightings = SightingRepository(session)
        candidates = await sightings.missing(at, limit) if rules else []
        if not candidates:
            return 0
        await _lock(session, exclusive=True)
        last_seen = await sightings.of(candidates)  # read committed: what the imports before the lock reported
        retired, removed = [], []
        for ci in (await CiRepository(session).get_many(candidates, for_update=True)).values():
            seen = last_seen.get(ci.id, {})
            if not ci.is_live or not is_missing(seen, rules, at):
                continue
            last_source = max(seen, key=seen.__getitem__)
            ci.set_status(OperationalStatus.RETIRED, source=last_source, actor=None, at=at)
            removed += await _retired(session, ci, source=last_source, at=at)
            retired.append(ci)
        await _store(uow, changed=retired, removed=removed)
        await uow.commit()
    return len(retired)


async def add_relationship(uow: UnitOfWork, *, source_id: str, type: str, target_id: str,
                           actor: str | None) -> Relationship:
    async with uow:
        await _lock(uow.session)
        # The source's row lock queues two additions from one CI; both rows locked keep either from retiring
        # meanwhile.
        cis = CiRepository(uow.session)
        ends = {ci_id: (ci.ci_class, ci.is_live)
                for ci_id, ci in (await cis.get_many([source_id, target_id], for_update=True)).items()}
        kind = check_relationship(type, ends.get(source_id), ends.get(target_id), source_id=source_id,
                                  target_id=target_id)
        existing = await RelationshipRepository(uow.session).live_among([(source_id, target_id, kind)], cis.seqs)
        if existing:
            raise DuplicateRelationship(next(iter(existing.values())))
        relationship = Relationship.add(id=new_id(), source_id=source_id, target_id=target_id, type=kind,
                                        source=MANUAL, at=utcnow())
        await _store(uow, cis=cis, added=[relationship], actor=actor)
        await uow.commit()
    return relationship


async def remove_relationship(uow: UnitOfWork, relationship_id: str, *, actor: str | None) -> Relationship:
    async with uow:
        await _lock(uow.session)
        relationship = await _relationship(RelationshipRepository(uow.session), relationship_id, for_update=True)
        relationship.remove(source=MANUAL, at=utcnow())
        await _store(uow, removed=[relationship], actor=actor)
        await uow.commit()
    return relationship


async def _relationship(relationships: RelationshipRepository, relationship_id: str, *,
                        for_update: bool = False) -> Relationship:
    return found(await relationships.get(relationship_id, for_update=for_update), "relationship", relationship_id)


async def list_cis(uow: UnitOfWork, query: CiQuery) -> tuple[list[ConfigurationItem], dict[str, dict], str | None]:
    """A page of CIs, when each source last reported each, and the next page's cursor."""
    unseen_since = utcnow() - query.unseen_for if query.unseen_for else None
    async with uow:
        items, next_cursor = await CiRepository(uow.session).page(
            limit=query.limit, cursor=query.cursor, classes=query.ci_class, statuses=query.operational_status,
            environment=query.environment, owner_group=query.owner_group, q=query.q, source=query.source,
            unseen_since=unseen_since)
        return items, await SightingRepository(uow.session).of(ci.id for ci in items), next_cursor


async def get_ci(uow: UnitOfWork, ci_id: str) -> tuple[ConfigurationItem, dict]:
    """The CI and when each source last reported it."""
    async with uow:
        ci = await _ci(CiRepository(uow.session), ci_id)
        return ci, (await SightingRepository(uow.session).of([ci_id])).get(ci_id, {})


async def ci_as_of(uow: UnitOfWork, ci_id: str, at: datetime) -> ConfigurationItem:
    async with uow:
        current = await _ci(CiRepository(uow.session), ci_id)
        then = as_of(await HistoryRepository(uow.session).until(ci_id, at), ci_id=ci_id, ci_class=current.ci_class,
                     at=at)
    if then is None:
        raise Problem(404, "Not Found", f"configuration item {ci_id} did not exist yet at {at.isoformat()}",
                      created_at=current.created_at.isoformat())
    return then


async def relationships_of(uow: UnitOfWork, ci_id: str,
                           at: datetime | None = None) -> list[tuple[Relationship, ConfigurationItem]]:
    """The CI's relationships both ways (live, or live at `at`), each with the CI at its other end."""
    async with uow:
        cis = CiRepository(uow.session)
        await _ci(cis, ci_id)
        related = await RelationshipRepository(uow.session).of(ci_id, at)
        others = await cis.get_many(r.target_id if r.source_id == ci_id else r.source_id for r in related)
    return [(r, others[r.target_id if r.source_id == ci_id else r.source_id]) for r in related]


async def history(uow: UnitOfWork, ci_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """The CI's field and relationship changes, newest first, each with its `relationship` (or None)."""
    async with uow:
        await _ci(CiRepository(uow.session), ci_id)
        rows, next_cursor = await HistoryRepository(uow.session).page(ci_id, limit=limit, cursor=cursor)
        relationships = await RelationshipRepository(uow.session).get_many(r["relationship_id"] for r in rows
                                                                           if r["relationship_id"])
    for row in rows:
        row["relationship"] = relationships[row["relationship_id"]] if row["relationship_id"] else None
    return rows, next_cursor


async def get_relationship(uow: UnitOfWork, relationship_id: str) -> Relationship:
    async with uow:
        return await _relationship(RelationshipRepository(uow.session), relationship_id)


async def impact(uow: UnitOfWork, ci_id: str, *, upstream: bool,
                 max_depth: int) -> tuple[ConfigurationItem, list[dict]]:
    """The CI and the impact walk's rows (RelationshipRepository.impact), upstream each with the `effect`
    of the CI's failure on it: down, or degraded where redundancy keeps it up (failure_effects)."""
    async with uow:
        ci = await _ci(CiRepository(uow.session), ci_id)
        relationships = RelationshipRepository(uow.session)
        start, rows = await relationships.impact(ci.id, upstream=upstream, max_depth=max_depth)
        effects: dict[int, str] = {}
        if upstream and rows:
            reached = [row["seq"] for row in rows]
            redundant = {row["seq"]: row["min_members_up"] for row in rows if row["min_members_up"] is not None}
            if not redundant:  # no redundancy on the way: whatever needs the CI goes down with it
                effects = dict.fromkeys(reached, Effect.DOWN)
            else:
                effects = failure_effects(start, await relationships.needs_among(reached, [start, *reached]),
                                          min_members_up=redundant,
                                          members_up=await relationships.members_up(list(redundant)))
    for row in rows:
        row["effect"] = effects.get(row.pop("seq"))
        del row["min_members_up"]
    return ci, rows


async def source_priorities(session: AsyncSession) -> SourcePriorities:
    sources = await SourceRepository(session).all()
    return SourcePriorities({s["name"]: (s["priority"], s["field_priorities"]) for s in sources},
                            stale_after={s["name"]: s["stale_after"] for s in sources if s["stale_after"]})


async def list_sources(uow: UnitOfWork) -> list[dict]:
    async with uow:
        return await SourceRepository(uow.session).all()


async def put_source(uow: UnitOfWork, name: str, *, priority: int, field_priorities: dict[str, int],
                     description: str | None, stale_after: timedelta | None = None,
                     retire_missing_after: timedelta | None = None, actor: str) -> dict:
    """Rank a source; the source as stored."""
    check_priorities(priority, field_priorities)
    async with uow:
        stored = SourceRepository(uow.session)
        await stored.put(name, priority=priority, field_priorities=field_priorities, description=description,
                         stale_after=stale_after, retire_missing_after=retire_missing_after, by=actor, at=utcnow())
        source = next(s for s in await stored.all() if s["name"] == name)
        await uow.commit()
    return source


async def import_batch(uow: UnitOfWork, request: ImportRequest) -> dict[str, Any]:
    """Identify, reconcile and write what a discovery source reports; the per-item report.

    A fixed number of statements whatever the payload's size: the write lock, the source
    priorities, the owners of the payload's identity keys, the CIs they name,
    the CIs the relationships name by id, the live relationships among them, then one
    write per table.
    """
    items: list = []  # read and checked before taking the lock: what needs no database waits for nothing
    for index, item in enumerate(request.items):
        try:
            items.append(read_item(index, vars(item)))  # its fields as parsed: no copy of a thousand items
        except DomainError as exc:
            items.append(ItemOutcome(index, item.ref, "rejected", reason=str(exc)))
    reported = [ReportedRelationship(index, r.type, r.source, r.source_id, r.target, r.target_id)
                for index, r in enumerate(request.relationships)]
    async with uow:
        return await _import(uow, request, items, reported)


async def _import(uow: UnitOfWork, request: ImportRequest, items: list,
                  reported: list[ReportedRelationship]) -> dict[str, Any]:
    """The import's transaction, in the entered unit of work; refused (all_or_nothing), it commits nothing."""
    session = uow.session
    await _lock(session)
    at, source = utcnow(), request.source
    priority = await source_priorities(session)
    identities, cis = IdentityRepository(session), CiRepository(session)
    owners = await identities.owners(key for item in items if not isinstance(item, ItemOutcome) for key in item.keys)
    loaded = await cis.get_many(owners.values())  # unlocked: most stay unchanged; those that change are checked
    sightings = SightingRepository(session)
    last_seen = await sightings.of(loaded) if priority.stale_after else {}
    refused: dict[int, str] = {}
    while True:
        plan = plan_import(items, owners=owners, loaded=loaded, source=source, priority=priority, at=at,
                           new_id=new_id, refused=refused, last_seen=last_seen)
        # Keys a change composed of stored and reported values: the store is asked about them too.
        taken = {k: v for k, v in (await identities.owners(plan.unverified)).items() if v != plan.keys_added.get(k)}
        if not taken:
            break
        refused |= {plan.unverified[k]: f"its {identified_by(k)} identifies another CI ({v})" for k, v in taken.items()}
        owners |= taken

    in_payload = {ci.id: ci for ci in plan.created} | {ci.id: ci for ci in loaded.values()}
    named = {r.source_id for r in reported} | {r.target_id for r in reported}
    known = {ci_id: (ci.ci_class, ci.is_live) for ci_id, ci in in_payload.items()}
    known |= await cis.classes(named - set(in_payload) - {None})
    created = {ci.id for ci in plan.created}
    candidates = [t for t in (_triple(r, plan.refs) for r in reported)
                  if t is not None and t[0] not in created and t[1] not in created]
    active = await RelationshipRepository(session).live_among(candidates, cis.seqs)
    outcomes, added = plan_relationships(reported, refs=plan.refs, cis=known, active=active, source=source, at=at,
                                         new_id=new_id)

    relationship_counts = dict.fromkeys(("created", "unchanged", "rejected"), 0)
    for outcome in outcomes:
        relationship_counts[outcome.outcome] += 1
    counts = plan.counts()
    refuse = request.mode == "all_or_nothing" and (counts["rejected"] or relationship_counts["rejected"])
    if not refuse:
        rewritten = [ci for ci, _ in plan.updated] + plan.provenance_only
        if await cis.lock_changed_since({ci.id: loaded[ci.id].version for ci in rewritten}):
            raise Contended("a CI this import changes was changed since it was read")
        await identities.remove(plan.keys_removed)
        await identities.add_many(plan.keys_added)
        await _store(uow, cis=cis, created=plan.created, changed=[ci for ci, _ in plan.updated], added=added)
        await cis.save_many(plan.provenance_only)
        await sightings.record((item.ci_id for item in plan.items if item.outcome != "rejected"), source, at)
        await uow.commit()
    return {
        "source": source, "mode": request.mode, "committed": not refuse, "counts": counts,
        "relationship_counts": relationship_counts,
        "items": [vars(item) for item in plan.items],
        "relationships": [vars(outcome) for outcome in outcomes],
    }


def _triple(rel: ReportedRelationship, refs: dict[str, str | None]) -> tuple[str, str, str] | None:
    """The (source, target, type) a reported relationship names, if its ends resolve."""
    source = rel.source_id or refs.get(rel.source)
    target = rel.target_id or refs.get(rel.target)
    return (source, target, rel.type) if source and target else None


__all__ = ["add_relationship", "ci_as_of", "get_ci", "get_relationship", "history", "impact", "import_batch",
           "list_cis", "list_sources", "put_source", "register_ci", "relationships_of", "remove_relationship",
           "retire_missing", "set_status", "update_ci"]
