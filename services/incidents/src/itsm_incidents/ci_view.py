"""The incidents service's copy of the CMDB: what it needs of the CIs and how they relate.

Fed by the cmdb events (itsm.cmdb), so an incident shows its affected CI and the business
services that CI impacts without asking the cmdb service. Each CI row keeps the sequence
of the last event applied to it: an older or repeated event changes nothing. A
relationship's events share its id as key, so its removal never overtakes its addition;
a removed relationship stays as a tombstone, so a replay cannot bring it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger, Boolean, Column, Index, Integer, String, Table, bindparam, func, select, text, update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import CloudEvent
from itsm_contracts.api.cmdb import CiBrief
from itsm_contracts.api.incidents import IncidentPublic
from itsm_contracts.events.cmdb import (
    CiCreated, CiRelationshipAdded, CiRelationshipRemoved, CiRetired, CiStatusChanged, CiUpdated,
)
from itsm_kit.consumer import Batched
from itsm_incidents.store import metadata

cmdb_cis = Table(
    "cmdb_cis",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("ci_class", String(40), nullable=False),
    Column("criticality", Integer, nullable=False),
    Column("operational_status", String(20), nullable=False),
    Column("sequence", BigInteger, nullable=False),
)
Index("cmdb_cis_by_name", func.lower(cmdb_cis.c.name))

cmdb_relationships = Table(
    "cmdb_relationships",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("source_id", String(36), nullable=False),
    Column("target_id", String(36), nullable=False),
    Column("type", String(20), nullable=False),
    Column("removed", Boolean, nullable=False, server_default="false"),
    # Walks upstream: who depends on a CI.
    Index("cmdb_relationships_live_by_target", "target_id", "source_id", postgresql_where=text("NOT removed")),
)

BUSINESS_SERVICE = "business_service"
MAX_DEPTH = 20
_TRACKED = {"name", "criticality", "operational_status"}  # the fields of an update this copy keeps


class CiView:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def find(self, ref: str) -> dict | None:
        """The CI an incident names: by id, else by name (ignoring case) when one live CI has it."""
        row = (await self.session.execute(select(cmdb_cis).where(cmdb_cis.c.id == ref))).first()
        if row is not None:
            return dict(row._mapping)
        rows = (await self.session.execute(
            select(cmdb_cis).where(func.lower(cmdb_cis.c.name) == ref.strip().lower(),
                                   cmdb_cis.c.operational_status != "retired").limit(2))).all()
        return dict(rows[0]._mapping) if len(rows) == 1 else None

    async def business_services(self, ci_id: str) -> list[dict]:
        """The live business services that depend on the CI, directly or not (itself, if it is one)."""
        rows = await self.session.execute(text("""
            WITH RECURSIVE up(id, path) AS (
                SELECT CAST(:ci AS varchar), ARRAY[CAST(:ci AS varchar)]
              UNION ALL
                SELECT DISTINCT ON (r.source_id) r.source_id, up.path || r.source_id
                FROM up JOIN cmdb_relationships r ON r.target_id = up.id AND NOT r.removed
                WHERE r.source_id <> ALL(up.path) AND cardinality(up.path) <= :max_depth
            )
            SELECT DISTINCT c.id, c.name, c.ci_class, c.criticality, c.operational_status
            FROM up JOIN cmdb_cis c ON c.id = up.id
            WHERE c.ci_class = :business_service AND c.operational_status <> 'retired'
            ORDER BY c.criticality, c.name, c.id
        """), {"ci": ci_id, "max_depth": MAX_DEPTH, "business_service": BUSINESS_SERVICE})
        return [dict(r._mapping) for r in rows.all()]

    async def created(self, events: list[tuple[CloudEvent, CiCreated]]) -> None:
        latest = _latest((e, {"id": d.ci_id, "name": d.name, "ci_class": d.ci_class, "criticality": d.criticality,
                              "operational_status": d.operational_status or "operational"}) for e, d in events)
        if not latest:
            return
        rows = list(latest.values())
        # One statement for the run, its rows as arrays (an executemany would be a statement per row).
        await self.session.execute(text("""
            INSERT INTO cmdb_cis (id, name, ci_class, criticality, operational_status, sequence)
            SELECT * FROM unnest(CAST(:id AS varchar[]), CAST(:name AS varchar[]), CAST(:ci_class AS varchar[]),
                                 CAST(:criticality AS int[]), CAST(:operational_status AS varchar[]),
                                 CAST(:sequence AS bigint[]))
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, ci_class = excluded.ci_class,
                criticality = excluded.criticality, operational_status = excluded.operational_status,
                sequence = excluded.sequence
            WHERE cmdb_cis.sequence < excluded.sequence
        """), {column: [r[column] for r in rows] for column in rows[0]})

    async def changed(self, events: Iterable[tuple[CloudEvent, Any]]) -> None:
        """Updates, status changes and retirements: folded per CI, then one statement per set of fields."""
        folded: dict[str, dict] = {}
        for event, data in events:
            values = _changes(data)
            row = folded.setdefault(data.ci_id, {"id": data.ci_id, "sequence": 0})
            if event.sequence > row["sequence"]:
                row.update(values, sequence=event.sequence)
        by_fields: dict[tuple[str, ...], list[dict]] = {}
        for row in folded.values():
            by_fields.setdefault(tuple(sorted(set(row) - {"id", "sequence"})), []).append(row)
        for fields, rows in by_fields.items():
            await self.session.execute(
                update(cmdb_cis).where(cmdb_cis.c.id == bindparam("b_id"), cmdb_cis.c.sequence < bindparam("b_seq"))
                .values({f: bindparam(f"b_{f}") for f in (*fields, "sequence")}),
                [{"b_id": r["id"], "b_seq": r["sequence"], **{f"b_{f}": r[f] for f in (*fields, "sequence")}}
                 for r in rows])

    async def relationships(self, events: list[tuple[CloudEvent, Any]]) -> None:
        """Additions and removals, in order; a removal leaves a tombstone."""
        rows: dict[str, dict] = {}
        for _event, d in events:
            removed = isinstance(d, CiRelationshipRemoved)
            row = rows.setdefault(d.relationship_id, {"id": d.relationship_id, "source_id": d.source_id,
                                                      "target_id": d.target_id, "type": d.relationship_type,
                                                      "removed": removed})
            row["removed"] = row["removed"] or removed
        if rows:
            values = list(rows.values())
            await self.session.execute(text("""
                INSERT INTO cmdb_relationships (id, source_id, target_id, type, removed)
                SELECT * FROM unnest(CAST(:id AS varchar[]), CAST(:source_id AS varchar[]),
                                     CAST(:target_id AS varchar[]), CAST(:type AS varchar[]),
                                     CAST(:removed AS boolean[]))
                ON CONFLICT (id) DO UPDATE SET removed = cmdb_relationships.removed OR excluded.removed
            """), {column: [r[column] for r in values] for column in values[0]})


async def with_affected_ci(session: AsyncSession, incident: IncidentPublic) -> IncidentPublic:
    """The incident with its affected CI and the business services that CI impacts, as this copy knows them."""
    if not incident.affected_ci:
        return incident
    view = CiView(session)
    ci = await view.find(incident.affected_ci)
    if ci is None:
        return incident
    services = await view.business_services(ci["id"])
    return incident.model_copy(update={"affected_ci_details": CiBrief(**_brief(ci)),
                                       "impacted_business_services": [CiBrief(**s) for s in services]})


def _brief(row: dict) -> dict:
    return {k: row[k] for k in ("id", "name", "ci_class", "criticality", "operational_status")}


def _latest(pairs: Iterable[tuple[CloudEvent, dict]]) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for event, row in pairs:
        if row["id"] not in latest or event.sequence > latest[row["id"]]["sequence"]:
            latest[row["id"]] = row | {"sequence": event.sequence}
    return latest


def _changes(data: Any) -> dict:
    if isinstance(data, CiUpdated):
        return {k: v for k, v in data.changes.items() if k in _TRACKED and v is not None}
    if isinstance(data, CiStatusChanged):
        return {"operational_status": data.to_status}
    return {"operational_status": "retired"}


def event_handlers() -> dict[str, Batched]:
    """Handlers for the consumer: each applies a run of its events in one statement or a few."""

    def batched(apply) -> Batched:
        async def many(session: AsyncSession, events: list) -> None:
            await apply(CiView(session), events)

        async def one(session: AsyncSession, event: CloudEvent, data: Any) -> None:
            await many(session, [(event, data)])

        return Batched(one=one, many=many)

    changed = batched(CiView.changed)
    relationships = batched(CiView.relationships)
    return {
        CiCreated.type: batched(CiView.created),
        CiUpdated.type: changed, CiStatusChanged.type: changed, CiRetired.type: changed,
        CiRelationshipAdded.type: relationships, CiRelationshipRemoved.type: relationships,
    }
