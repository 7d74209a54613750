"""A service's copy of the CMDB: CIs and relationships, as far as incidents, problems and changes need them.

Fed by itsm.cmdb events (never a call to the CMDB); every change is applied only if its sequence is newer than
what is kept, so a replay or a late duplicate changes nothing. A removed relationship stays as a tombstone, so a
replay cannot bring it back.

A service keeping the copy:
- declares the tables on its store's MetaData: `cmdb_cis, cmdb_relationships = cmdb_copy_tables(metadata)`;
- creates them in a migration with `create_cmdb_copy_tables(op)` (and `drop_cmdb_copy_tables(op)` to go back);
- consumes topics.CMDB with `**cmdb_handlers(runtime)` among its event handlers;
- reads it with `CiRepository(session)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, bindparam, func, select, text, update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import CloudEvent
from itsm_contracts.events.cmdb import (
    CiCreated, CiRelationshipAdded, CiRelationshipRemoved, CiRetired, CiStatusChanged, CiUpdated,
)
from itsm_kit.consumer import Batched
from itsm_kit.db import UpsertNewer
from itsm_kit.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from itsm_kit.runtime import Runtime

Work = Callable[[UnitOfWork, Sequence[tuple[CloudEvent, Any]]], Awaitable[None]]

CIS, RELATIONSHIPS = "cmdb_cis", "cmdb_relationships"
BUSINESS_SERVICE = "business_service"
MAX_DEPTH = 20  # how far up the dependency graph a business service is looked for


def _ci_columns() -> list[Column]:
    return [
        Column("id", String(36), primary_key=True),
        Column("name", String(255), nullable=False),
        Column("ci_class", String(40), nullable=False),
        Column("criticality", Integer, nullable=False),
        Column("operational_status", String(20), nullable=False),
        Column("sequence", BigInteger, nullable=False),
    ]


def _relationship_columns() -> list[Column]:
    return [
        Column("id", String(36), primary_key=True),
        Column("source_id", String(36), nullable=False),
        Column("target_id", String(36), nullable=False),
        Column("type", String(20), nullable=False),
        Column("removed", Boolean, nullable=False, server_default="false"),
    ]


def cmdb_copy_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The two tables (cmdb_cis, cmdb_relationships) declared on `metadata`, with their indexes."""
    cis = Table(CIS, metadata, *_ci_columns())
    Index("cmdb_cis_by_name", func.lower(cis.c.name))  # a CI is named by its name as often as by its id
    relationships = Table(RELATIONSHIPS, metadata, *_relationship_columns())
    # Walks upstream: who depends on a CI.
    Index("cmdb_relationships_live_by_target", relationships.c.target_id, relationships.c.source_id,
          postgresql_where=text("NOT removed"))
    return cis, relationships


# The tables this module's statements use; a service declares its own on its store's MetaData (same names).
_cis, _relationships = cmdb_copy_tables(MetaData())
_PUT_CIS = UpsertNewer(_cis, ["id"], ("name", "ci_class", "criticality", "operational_status", "sequence"))


def create_cmdb_copy_tables(op: Any) -> None:
    """For a service's Alembic migration (`op` is alembic.op): create both tables and their indexes, as
    cmdb_copy_tables declares them.

    They are built from this module as it is today. A later change to these tables is a new migration in
    every service keeping the copy (written out there), not an edit here: a migration already run keeps its shape.
    """
    op.create_table(CIS, *_ci_columns())
    op.create_index("cmdb_cis_by_name", CIS, [text("lower(name)")])
    op.create_table(RELATIONSHIPS, *_relationship_columns())
    op.create_index("cmdb_relationships_live_by_target", RELATIONSHIPS, ["target_id", "source_id"],
                    postgresql_where=text("NOT removed"))


def drop_cmdb_copy_tables(op: Any) -> None:
    """The downgrade of create_cmdb_copy_tables."""
    op.drop_table(RELATIONSHIPS)
    op.drop_table(CIS)


class CiRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def find(self, ref: str) -> dict | None:
        """The CI a record names: by id, else by name (ignoring case) when one live CI has it."""
        row = (await self.session.execute(select(_cis).where(_cis.c.id == ref))).first()
        if row is not None:
            return dict(row._mapping)
        rows = (await self.session.execute(
            select(_cis).where(func.lower(_cis.c.name) == ref.strip().lower(),
                               _cis.c.operational_status != "retired").limit(2))).all()
        return dict(rows[0]._mapping) if len(rows) == 1 else None

    async def find_ids(self, refs: Sequence[str]) -> dict[str, str]:
        """`find` for many references at once (one statement): each reference -> the id of the CI it names, for
        those naming one."""
        refs = sorted(set(refs))
        if not refs:
            return {}
        rows = await self.session.execute(text("""
            WITH ref(ref, name) AS (SELECT * FROM unnest(CAST(:refs AS varchar[]), CAST(:names AS varchar[])))
            SELECT ref.ref, c.id, true AS by_id FROM ref JOIN cmdb_cis c ON c.id = ref.ref
            UNION ALL
            SELECT ref.ref, c.id, false FROM ref
            JOIN cmdb_cis c ON lower(c.name) = ref.name AND c.operational_status <> 'retired'
        """), {"refs": refs, "names": [ref.strip().lower() for ref in refs]})
        by_id: dict[str, str] = {}
        by_name: dict[str, set[str]] = {}
        for ref, ci, is_id in rows.all():
            if is_id:
                by_id[ref] = ci
            else:
                by_name.setdefault(ref, set()).add(ci)
        # As find: an id first, else a name only one live CI has.
        return {**{ref: ids.pop() for ref, ids in by_name.items() if len(ids) == 1}, **by_id}

    async def dependencies_each(self, ci_ids: Sequence[str]) -> dict[str, set[str]]:
        """dependencies_of for each CI apart (ids only, each CI's own included), in one statement."""
        if not ci_ids:
            return {}
        rows = await self.session.execute(text("""
            WITH RECURSIVE walk(start, id) AS (
                SELECT start.id, start.id FROM unnest(CAST(:cis AS varchar[])) AS start(id)
              UNION
                SELECT walk.start, r.target_id FROM walk JOIN cmdb_relationships r
                ON r.source_id = walk.id AND NOT r.removed
            )
            SELECT start, id FROM walk
        """), {"cis": sorted(set(ci_ids))})
        found: dict[str, set[str]] = {}
        for start, ci in rows.all():
            found.setdefault(start, set()).add(ci)
        return found

    async def business_services(self, ci_id: str) -> list[dict]:
        """The live business services that depend on the CI, directly or not (itself, if it is one)."""
        return await self.business_services_of([ci_id])

    async def business_services_of(self, ci_ids: Sequence[str]) -> list[dict]:
        """The live business services that depend on any of the CIs, directly or not (each once; a CI that is
        one counts), in one statement."""
        if not ci_ids:
            return []
        rows = await self.session.execute(text("""
            WITH RECURSIVE up(id, path) AS (
                SELECT start.id, ARRAY[start.id]
                FROM unnest(CAST(:cis AS varchar[])) AS start(id)
              UNION ALL
                SELECT DISTINCT ON (r.source_id) r.source_id, up.path || r.source_id
                FROM up JOIN cmdb_relationships r ON r.target_id = up.id AND NOT r.removed
                WHERE r.source_id <> ALL(up.path) AND cardinality(up.path) <= :max_depth
            )
            SELECT DISTINCT c.id, c.name, c.ci_class, c.criticality, c.operational_status
            FROM up JOIN cmdb_cis c ON c.id = up.id
            WHERE c.ci_class = :business_service AND c.operational_status <> 'retired'
            ORDER BY c.criticality, c.name, c.id
        """), {"cis": sorted(set(ci_ids)), "max_depth": MAX_DEPTH, "business_service": BUSINESS_SERVICE})
        return [dict(r._mapping) for r in rows.all()]

    async def dependants_of(self, ci_ids: Sequence[str]) -> list[dict]:
        """The live CIs that depend on any of the CIs, directly or not, the CIs themselves included (each once):
        what a change to them may break. One statement."""
        return await self._walk(ci_ids, upstream=True)

    async def dependencies_of(self, ci_ids: Sequence[str]) -> list[dict]:
        """The CIs any of the CIs depend on, directly or not, themselves included (each once, retired or not): the
        CIs whose records (changes) an event on these CIs may concern. One statement."""
        return await self._walk(ci_ids, upstream=False)

    async def _walk(self, ci_ids: Sequence[str], *, upstream: bool) -> list[dict]:
        if not ci_ids:
            return []
        near, far = ("target_id", "source_id") if upstream else ("source_id", "target_id")
        rows = await self.session.execute(text(f"""
            WITH RECURSIVE walk(id) AS (
                SELECT start.id FROM unnest(CAST(:cis AS varchar[])) AS start(id)
              UNION
                SELECT r.{far} FROM walk JOIN cmdb_relationships r ON r.{near} = walk.id AND NOT r.removed
            )
            SELECT walk.id, c.name, c.ci_class, c.criticality, c.operational_status
            FROM walk LEFT JOIN cmdb_cis c ON c.id = walk.id
        """), {"cis": sorted(set(ci_ids))})
        found = [dict(r._mapping) for r in rows.all()]
        return [r for r in found if r["operational_status"] != "retired"] if upstream else found

    async def put(self, rows: Sequence[dict]) -> None:
        """Whole CIs (id, name, ci_class, criticality, operational_status, sequence), unless a newer one is kept."""
        await _PUT_CIS(self.session, rows)  # one statement for the run

    async def change(self, rows: Sequence[dict]) -> None:
        """Some fields of CIs (id, sequence and the fields), unless a newer change is kept; a statement per
        set of fields."""
        by_fields: dict[tuple[str, ...], list[dict]] = {}
        for row in rows:
            by_fields.setdefault(tuple(sorted(set(row) - {"id", "sequence"})), []).append(row)
        for fields, same in by_fields.items():
            await self.session.execute(
                update(_cis).where(_cis.c.id == bindparam("b_id"), _cis.c.sequence < bindparam("b_seq"))
                .values({f: bindparam(f"b_{f}") for f in (*fields, "sequence")}),
                [{"b_id": r["id"], "b_seq": r["sequence"], **{f"b_{f}": r[f] for f in (*fields, "sequence")}}
                 for r in same])

    async def put_relationships(self, rows: Sequence[dict]) -> None:
        """Relationships (id, source_id, target_id, type, removed); a removal is kept for good."""
        if rows:
            await self.session.execute(text("""
                INSERT INTO cmdb_relationships (id, source_id, target_id, type, removed)
                SELECT * FROM unnest(CAST(:id AS varchar[]), CAST(:source_id AS varchar[]),
                                     CAST(:target_id AS varchar[]), CAST(:type AS varchar[]),
                                     CAST(:removed AS boolean[]))
                ON CONFLICT (id) DO UPDATE SET removed = cmdb_relationships.removed OR excluded.removed
            """), {column: [r[column] for r in rows] for column in rows[0]})


# The CMDB's events, applied to the copy: each run folded per CI, then one statement or a few.
_TRACKED = {"name", "criticality", "operational_status"}  # the fields of an update this copy keeps


async def cis_created(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, CiCreated]]) -> None:
    latest: dict[str, dict] = {}
    for event, d in run:
        if d.ci_id not in latest or event.sequence > latest[d.ci_id]["sequence"]:
            latest[d.ci_id] = {"id": d.ci_id, "name": d.name, "ci_class": d.ci_class, "criticality": d.criticality,
                               "operational_status": d.operational_status or "operational", "sequence": event.sequence}
    async with uow:
        await CiRepository(uow.session).put(list(latest.values()))
        await uow.commit()


async def cis_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    """Updates, status changes and retirements: the latest value of each field per CI."""
    folded: dict[str, dict] = {}
    for event, data in run:
        row = folded.setdefault(data.ci_id, {"id": data.ci_id, "sequence": 0})
        if event.sequence > row["sequence"]:
            row.update(_ci_changes(data), sequence=event.sequence)
    async with uow:
        await CiRepository(uow.session).change(list(folded.values()))
        await uow.commit()


def _ci_changes(data: Any) -> dict:
    if isinstance(data, CiUpdated):
        return {k: v for k, v in data.changes.items() if k in _TRACKED and v is not None}
    if isinstance(data, CiStatusChanged):
        return {"operational_status": data.to_status}
    return {"operational_status": "retired"}


async def relationships_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    """Additions and removals, in order; a removal leaves a tombstone."""
    rows: dict[str, dict] = {}
    for _event, d in run:
        removed = isinstance(d, CiRelationshipRemoved)
        row = rows.setdefault(d.relationship_id, {"id": d.relationship_id, "source_id": d.source_id,
                                                  "target_id": d.target_id, "type": d.relationship_type,
                                                  "removed": removed})
        row["removed"] = row["removed"] or removed
    async with uow:
        await CiRepository(uow.session).put_relationships(list(rows.values()))
        await uow.commit()


def cmdb_handlers(runtime: Runtime, *, then: Work | None = None) -> dict[str, Batched]:
    """Every CMDB event type (topics.CMDB) -> its handler; one handler for several types takes runs that mix them.
    `then(uow, run)`, if given, follows each run once the copy holds it, in the same transaction (a service
    reacting to what changed in the CMDB, e.g. reassessing records on the CIs)."""
    def batched(work: Work) -> Batched:
        if then is None:
            return runtime.batched(work)

        async def work_then(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
            await work(uow, run)
            await then(uow, run)
        return runtime.batched(work_then)

    changed = batched(cis_changed)
    related = batched(relationships_changed)
    return {
        CiCreated.type: batched(cis_created),
        CiUpdated.type: changed, CiStatusChanged.type: changed, CiRetired.type: changed,
        CiRelationshipAdded.type: related, CiRelationshipRemoved.type: related,
    }
