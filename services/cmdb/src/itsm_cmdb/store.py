"""The cmdb database: tables, and repositories that read and write them a set at a time.

- `cis`: one row per CI, its class attributes and per-field provenance as JSONB;
- `ci_identities`: one row per identification rule a live CI satisfies; its primary key
  is what makes two live CIs with the same serial number (FQDN, ...) impossible;
- `ci_relationships`: temporal; a removal sets `removed_at`, so the table is also the
  relationships' history. Partial indexes on the live rows, one per direction, are what
  impact analysis walks;
- `ci_history`: one row per CI version: which fields changed (old and new), source, time;
- `ci_sources`: the reconciliation priority of each discovery source.

Relationships and history carry no foreign keys: every writer checks the CIs it names
under the CMDB write lock (see handlers), and bulk imports skip a trigger per row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger, Column, ColumnElement, DateTime, Index, Integer, MetaData, PrimaryKeyConstraint, Sequence, String,
    Table, Text, and_, bindparam, cast, delete, func, literal, or_, select, text, union_all, update,
)
from sqlalchemy.dialects.postgresql import ARRAY, INTERVAL, JSONB, insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_cmdb.domain import (
    Change, CiClass, ConfigurationItem, Environment, OperationalStatus, Relationship, RelationshipType,
)
from itsm_kit.db import copy_rows, matching
from itsm_kit.pagination import keyset, newest_first, page_of

metadata = MetaData()

# A CI's number: what relationships and impact walks use (a bigint compares and indexes in a
# fraction of what a 36-character id does); the API speaks ids.
ci_seq = Sequence("cis_seq", metadata=metadata)

cis = Table(
    "cis",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("seq", BigInteger, ci_seq, server_default=ci_seq.next_value(), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("ci_class", String(40), nullable=False),
    Column("criticality", Integer, nullable=False),
    Column("operational_status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("owner_group", String(100)),
    Column("environment", String(30)),
    Column("attributes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("provenance", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("cis_by_created", "created_at", "id"),
    Index("cis_by_class", "ci_class", "created_at", "id"),
)

ci_identities = Table(
    "ci_identities",
    metadata,
    Column("key", Text, primary_key=True),  # "host/serial_number=abc123": class, rule, values (lower case)
    Column("ci_id", String(36), nullable=False),
    Index("ci_identities_by_ci", "ci_id"),
)

LIVE_REL = text("removed_at IS NULL")
REMOVED_REL = text("removed_at IS NOT NULL")
ci_relationships = Table(
    "ci_relationships",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("source_id", String(36), nullable=False),
    Column("target_id", String(36), nullable=False),
    Column("source_seq", BigInteger, nullable=False),
    Column("target_seq", BigInteger, nullable=False),
    Column("type", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(60), nullable=False),
    Column("created_actor", String(255)),
    Column("removed_at", DateTime(timezone=True)),
    Column("removed_by", String(60)),
    Column("removed_actor", String(255)),
    # No two live relationships of a type between the same CIs; walks downstream.
    Index("ci_relationships_live", "source_seq", "target_seq", "type", unique=True, postgresql_where=LIVE_REL),
    # Walks upstream: who depends on this CI.
    Index("ci_relationships_live_by_target", "target_seq", "source_seq", "type", postgresql_where=LIVE_REL),
    # Removed ones, for history and as-of reads (few, and never on an import's path).
    Index("ci_relationships_removed_by_source", "source_seq", postgresql_where=REMOVED_REL),
    Index("ci_relationships_removed_by_target", "target_seq", postgresql_where=REMOVED_REL),
)

ci_history = Table(
    "ci_history",
    metadata,
    Column("ci_id", String(36), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source", String(60), nullable=False),
    Column("actor", String(255)),
    Column("changes", JSONB, nullable=False),  # field -> [old, new]
    PrimaryKeyConstraint("ci_id", "version", name="ci_history_pkey"),
)

ci_sources = Table(
    "ci_sources",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("priority", Integer, nullable=False),
    Column("field_priorities", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("description", String(500)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("stale_after", INTERVAL),
    Column("retire_missing_after", INTERVAL),
)

ci_sightings = Table(
    "ci_sightings",
    metadata,
    Column("ci_id", String(36), nullable=False),
    Column("source", String(60), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("ci_id", "source"),
)

_FIELDS = [f.name for f in dataclasses.fields(ConfigurationItem) if f.name not in ("events", "history")]
_STRINGS = ARRAY(String)


def _touching(seq) -> ColumnElement[bool]:
    """Relationships with this CI at either end, live or removed: each part of the OR has its own index."""
    r = ci_relationships.c
    return or_(and_(r.source_seq == seq, r.removed_at.is_(None)), and_(r.target_seq == seq, r.removed_at.is_(None)),
               and_(r.source_seq == seq, r.removed_at.is_not(None)),
               and_(r.target_seq == seq, r.removed_at.is_not(None)))


def _seq_of(ci_id: str):
    return select(cis.c.seq).where(cis.c.id == ci_id).scalar_subquery()


def _to_ci(row) -> ConfigurationItem:
    """From a row's mapping (the ORM's or the driver's)."""
    values = {name: row[name] for name in _FIELDS}
    return ConfigurationItem(**values | {
        "ci_class": CiClass(values["ci_class"]), "operational_status": OperationalStatus(values["operational_status"]),
        "environment": Environment(values["environment"]) if values["environment"] else None,
    })


def _row(ci: ConfigurationItem) -> dict[str, Any]:
    return {name: getattr(ci, name) for name in _FIELDS}


def _json(value: Any) -> str:
    """JSONB as COPY takes it: text."""
    return orjson.dumps(value).decode()


def _to_relationship(row) -> Relationship:
    m = row._mapping
    return Relationship(m["id"], m["source_id"], m["target_id"], RelationshipType(m["type"]), m["created_at"],
                        m["created_by"], m["removed_at"], m["removed_by"])


class CiRepository:
    """CIs by id; `seqs` remembers the number of every CI it read or wrote, for the relationships."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self.seqs: dict[str, int] = {}

    async def get(self, ci_id: str, *, for_update: bool = False) -> ConfigurationItem | None:
        found = await self.get_many([ci_id], for_update=for_update)
        return found.get(ci_id)

    async def get_many(self, ids: Iterable[str], *, for_update: bool = False) -> dict[str, ConfigurationItem]:
        """The CIs that exist; locked in id order (so two writers cannot deadlock) when for_update."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        # Straight through the driver: an import reads a thousand CIs at once.
        rows = await (await _driver(self.session)).fetch(
            f"SELECT * FROM cis WHERE id = ANY($1::varchar[]) ORDER BY id{' FOR UPDATE' if for_update else ''}", ids)
        self.seqs.update((r["id"], r["seq"]) for r in rows)
        return {r["id"]: _to_ci(r) for r in rows}

    async def classes(self, ids: Iterable[str]) -> dict[str, tuple[CiClass, bool]]:
        """(class, live) of each of these CIs that exists."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        rows = (await self.session.execute(
            select(cis.c.id, cis.c.seq, cis.c.ci_class, cis.c.operational_status)
            .where(cis.c.id == func.any(cast(ids, _STRINGS))))).all()
        self.seqs.update((r.id, r.seq) for r in rows)
        return {r.id: (CiClass(r.ci_class), r.operational_status != OperationalStatus.RETIRED) for r in rows}

    async def add_many(self, items: list[ConfigurationItem]) -> None:
        if not items:
            return
        numbers = (await self.session.scalars(select(ci_seq.next_value())
                                              .select_from(func.generate_series(1, len(items))))).all()
        self.seqs.update(zip((ci.id for ci in items), numbers, strict=True))
        await copy_rows(self.session, cis, [_row(ci) | {"seq": self.seqs[ci.id], "attributes": _json(ci.attributes),
                                                        "provenance": _json(ci.provenance)} for ci in items])

    async def lock_changed_since(self, versions: dict[str, int]) -> list[str]:
        """Lock these CIs (in id order, so writers cannot deadlock); those no longer at the version given."""
        if not versions:
            return []
        rows = await (await _driver(self.session)).fetch(
            "SELECT id, version FROM cis WHERE id = ANY($1::varchar[]) ORDER BY id FOR UPDATE", sorted(versions))
        found = {r["id"]: r["version"] for r in rows}
        return [ci_id for ci_id, version in versions.items() if found.get(ci_id) != version]

    async def save_many(self, items: list[ConfigurationItem]) -> None:
        """Write CIs changed since loaded (under their row locks, so no version check is needed)."""
        if items:
            await self.session.execute(
                update(cis).where(cis.c.id == bindparam("b_id")),
                [{"b_id": ci.id} | {k: v for k, v in _row(ci).items() if k not in ("id", "ci_class", "created_at")}
                 for ci in items],
            )

    async def page(self, *, limit: int, cursor: str | None = None, classes: list[str] | None = None,
                   statuses: list[str] | None = None, environment: str | None = None, owner_group: str | None = None,
                   q: str | None = None, source: str | None = None,
                   unseen_since: datetime | None = None) -> tuple[list[ConfigurationItem], str | None]:
        """Newest first; returns the page and the next page's cursor.

        `source`: CIs that source reported. `unseen_since`: CIs discovery (or `source`) reported,
        but not since then; a CI nobody reported is not stale, just not discovered.
        """
        query = newest_first(select(cis), cis.c.created_at, cis.c.id, limit=limit, cursor=cursor)
        if classes:
            query = query.where(cis.c.ci_class.in_(classes))
        if statuses:
            query = query.where(cis.c.operational_status.in_(statuses))
        if environment:
            query = query.where(cis.c.environment == environment)
        if owner_group:
            query = query.where(cis.c.owner_group == owner_group)
        if q:
            query = query.where(matching(q, cis.c.name))
        s = ci_sightings.c
        reported = select(s.ci_id).where(s.ci_id == cis.c.id)
        if source:
            reported = reported.where(s.source == source)
        if source or unseen_since:
            query = query.where(reported.exists())
        if unseen_since:
            query = query.where(~reported.where(s.last_seen_at >= unseen_since).exists())
        found = [_to_ci(r._mapping) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda ci: (ci.created_at, ci.id))


class IdentityRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def owners(self, keys: Iterable[str]) -> dict[str, str]:
        """The live CI holding each of these identity keys, where one does."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        rows = await self.session.execute(select(ci_identities.c.key, ci_identities.c.ci_id)
                                          .where(ci_identities.c.key == func.any(cast(keys, ARRAY(Text)))))
        return dict(rows.all())

    async def claim(self, ci_id: str, keys: list[str]) -> list[str]:
        """Give the keys to the CI; returns those another CI holds (then nothing is claimed by the caller's
        transaction once it rolls back)."""
        if not keys:
            return []
        statement = pg_insert(ci_identities).on_conflict_do_nothing().returning(ci_identities.c.key)
        claimed = set((await self.session.scalars(statement, [{"key": k, "ci_id": ci_id} for k in keys])).all())
        return [k for k in keys if k not in claimed]

    async def add_many(self, owners: dict[str, str]) -> None:
        # In key order: two imports that clash on keys meet on the first, rather than deadlock.
        await copy_rows(self.session, ci_identities, [{"key": k, "ci_id": owners[k]} for k in sorted(owners)])

    async def remove(self, keys: Iterable[str]) -> None:
        keys = sorted(set(keys))
        if keys:
            await self.session.execute(delete(ci_identities)
                                       .where(ci_identities.c.key == func.any(cast(keys, ARRAY(Text)))))

    async def of(self, ci_id: str) -> list[str]:
        return list((await self.session.scalars(select(ci_identities.c.key)
                                                .where(ci_identities.c.ci_id == ci_id))).all())


class HistoryRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add_many(self, by_ci: Iterable[tuple[str, list[Change]]]) -> None:
        await copy_rows(self.session, ci_history, [
            {"ci_id": ci_id, "version": c.version, "at": c.at, "kind": c.kind, "source": c.source, "actor": c.actor,
             "changes": _json(c.changes)} for ci_id, changes in by_ci for c in changes])

    async def until(self, ci_id: str, at: datetime) -> list[Change]:
        rows = await self.session.execute(select(ci_history).where(ci_history.c.ci_id == ci_id, ci_history.c.at <= at)
                                          .order_by(ci_history.c.version))
        return [Change(r.version, r.at, r.kind, r.source, r.actor, r.changes) for r in rows.all()]

    async def page(self, ci_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        """Field and relationship changes together, newest first."""
        # One order for all: time, then fields before relationships, then version (zero-padded) or id.
        fields = select(ci_history.c.at, literal(0).label("tag"),
                        func.lpad(cast(ci_history.c.version, String), 20, "0").label("key"),
                        ci_history.c.kind, ci_history.c.source, ci_history.c.actor, ci_history.c.version,
                        ci_history.c.changes, literal(None, String).label("relationship_id")
                        ).where(ci_history.c.ci_id == ci_id)
        r = ci_relationships.c
        touches = _touching(_seq_of(ci_id))
        added = select(r.created_at.label("at"), literal(1).label("tag"), r.id.label("key"),
                       literal("relationship_added").label("kind"), r.created_by.label("source"),
                       r.created_actor.label("actor"), literal(None, BigInteger).label("version"),
                       literal(None, JSONB).label("changes"), r.id.label("relationship_id")).where(touches)
        removed = select(r.removed_at.label("at"), literal(2).label("tag"), r.id.label("key"),
                         literal("relationship_removed").label("kind"), r.removed_by.label("source"),
                         r.removed_actor.label("actor"), literal(None, BigInteger).label("version"),
                         literal(None, JSONB).label("changes"), r.id.label("relationship_id")
                         ).where(touches, r.removed_at.is_not(None))
        timeline = union_all(fields, added, removed).subquery()
        keys = (timeline.c.at, timeline.c.tag, timeline.c.key)
        query = keyset(select(timeline), keys, descending=True, limit=limit, cursor=cursor, sort="history")
        found = [dict(row._mapping) for row in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda e: (e["at"], e["tag"], e["key"]), sort="history")


class RelationshipRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get(self, relationship_id: str, *, for_update: bool = False) -> Relationship | None:
        query = select(ci_relationships).where(ci_relationships.c.id == relationship_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        return _to_relationship(row) if row else None

    async def get_many(self, ids: Iterable[str]) -> dict[str, Relationship]:
        ids = sorted(set(ids))
        if not ids:
            return {}
        rows = await self.session.execute(select(ci_relationships)
                                          .where(ci_relationships.c.id == func.any(cast(ids, _STRINGS))))
        return {r.id: _to_relationship(r) for r in rows.all()}

    async def live_among(self, triples: Iterable[tuple[str, str, str]],
                         seqs: dict[str, int]) -> dict[tuple[str, str, str], str]:
        """Which of these (source, target, type) exist live, with their ids (`seqs`: the CIs' numbers)."""
        triples = sorted({t for t in triples if t[0] in seqs and t[1] in seqs})
        if not triples:
            return {}
        sources, targets, types = (list(column) for column in zip(*triples, strict=True))
        wanted = (func.unnest(cast([seqs[s] for s in sources], ARRAY(BigInteger)),
                              cast([seqs[t] for t in targets], ARRAY(BigInteger)), cast(types, _STRINGS))
                  .table_valued("s", "t", "ty").render_derived(name="wanted"))
        r = ci_relationships.c
        rows = await self.session.execute(
            select(r.source_id, r.target_id, r.type, r.id)
            .join_from(ci_relationships, wanted, and_(r.source_seq == wanted.c.s, r.target_seq == wanted.c.t,
                                                      r.type == wanted.c.ty))
            .where(r.removed_at.is_(None))
        )
        return {(row.source_id, row.target_id, row.type): row.id for row in rows.all()}

    async def live_of(self, ci_id: str, *, for_update: bool = False) -> list[Relationship]:
        r = ci_relationships.c
        seq = _seq_of(ci_id)
        query = (select(ci_relationships).where(or_(and_(r.source_seq == seq, r.removed_at.is_(None)),
                                                    and_(r.target_seq == seq, r.removed_at.is_(None))))
                 .order_by(r.id))
        rows = await self.session.execute(query.with_for_update() if for_update else query)
        return [_to_relationship(row) for row in rows.all()]

    async def of(self, ci_id: str, at: datetime | None = None) -> list[Relationship]:
        """The CI's live relationships, or those live at `at`."""
        r = ci_relationships.c
        if at is None:
            return sorted(await self.live_of(ci_id), key=lambda x: (x.created_at, x.id))
        query = select(ci_relationships).where(_touching(_seq_of(ci_id)), r.created_at <= at,
                                               or_(r.removed_at.is_(None), r.removed_at > at))
        rows = await self.session.execute(query.order_by(r.created_at, r.id))
        return [_to_relationship(row) for row in rows.all()]

    async def add_many(self, relationships: list[Relationship], seqs: dict[str, int],
                       actor: str | None = None) -> None:
        rows = [{"id": x.id, "source_id": x.source_id, "target_id": x.target_id, "source_seq": seqs[x.source_id],
                 "target_seq": seqs[x.target_id], "type": x.type.value, "created_at": x.created_at,
                 "created_by": x.created_by, "created_actor": actor} for x in relationships]
        # In index order: two imports adding the same relationship meet on it, rather than deadlock.
        rows.sort(key=lambda r: (r["source_seq"], r["target_seq"], r["type"]))
        await copy_rows(self.session, ci_relationships, rows)

    async def mark_removed(self, relationships: list[Relationship], actor: str | None = None) -> None:
        if relationships:
            await self.session.execute(
                update(ci_relationships).where(ci_relationships.c.id == bindparam("b_id")),
                [{"b_id": x.id, "removed_at": x.removed_at, "removed_by": x.removed_by, "removed_actor": actor}
                 for x in relationships])

    async def impact(self, ci_id: str, *, upstream: bool, max_depth: int) -> tuple[int, list[dict]]:
        """Every CI reachable from this one (upstream: who depends on it; downstream: what it
        depends on), each once at its shortest depth, with the CI before it on a shortest
        path (`parent`) and the type of the relationship between them. Nearest first; with
        the CI's number (`seq`, also returned for the CI itself) and its `min_members_up`.

        A breadth-first walk in one recursive query. Each level keeps a CI once (DISTINCT ON),
        so a level never holds more rows than there are CIs, and `max_depth` ends the walk
        however the relationships loop: cycle-safe without carrying paths. A CI met again
        deeper is dropped at the end; its parent at the depth before is itself at its
        shortest depth, so following parents gives a shortest path.
        """
        near, far = ("target_seq", "source_seq") if upstream else ("source_seq", "target_seq")
        # Straight through the driver: a thousand rows are read faster without the ORM's row objects.
        driver = await _driver(self.session)
        start = await driver.fetchval("SELECT seq FROM cis WHERE id = $1", ci_id)
        rows = await driver.fetch(f"""
            WITH RECURSIVE walk(seq, depth, parent, via) AS (
                SELECT CAST($1 AS bigint), 0, CAST(NULL AS bigint), CAST(NULL AS varchar)
              UNION ALL
                SELECT DISTINCT ON (r.{far}) r.{far}, w.depth + 1, w.seq, r.type
                FROM walk w JOIN ci_relationships r ON r.{near} = w.seq AND r.removed_at IS NULL
                WHERE w.depth < $2 AND r.{far} <> $1
            ), nearest AS (
                SELECT DISTINCT ON (seq) seq, depth, parent, via FROM walk WHERE depth > 0 ORDER BY seq, depth
            )
            SELECT c.id, c.name, c.ci_class, c.criticality, c.operational_status, n.depth, n.seq, n.parent, n.via,
                   (c.attributes->>'min_members_up')::int AS min_members_up
            FROM nearest n JOIN cis c ON c.seq = n.seq
            ORDER BY n.depth, c.name, c.id
        """, start, max_depth)
        ids = {start: ci_id} | {row["seq"]: row["id"] for row in rows}
        found = []
        for row in rows:
            item = dict(row.items())
            item["parent"] = ids[item["parent"]]
            found.append(item)
        return start, found

    async def needs_among(self, sources: list[int], targets: list[int]) -> list[tuple[int, int, str]]:
        """The live relationships from these CIs to those (by number), with their type's value."""
        rows = await (await _driver(self.session)).fetch("""
            SELECT r.source_seq, r.target_seq, r.type FROM unnest($1::bigint[]) AS s(seq)
            JOIN ci_relationships r ON r.source_seq = s.seq AND r.removed_at IS NULL
            WHERE r.target_seq = ANY($2::bigint[])
        """, sources, targets)
        return [tuple(r) for r in rows]

    async def members_up(self, containers: list[int]) -> dict[int, frozenset[int]]:
        """The members (contained CIs) of these CIs that are up: neither down nor retired."""
        rows = await (await _driver(self.session)).fetch("""
            SELECT r.source_seq, array_agg(r.target_seq) AS members FROM ci_relationships r
            JOIN cis c ON c.seq = r.target_seq AND c.operational_status NOT IN ('down', 'retired')
            WHERE r.source_seq = ANY($1::bigint[]) AND r.type = 'contains' AND r.removed_at IS NULL
            GROUP BY r.source_seq
        """, containers)
        return {r["source_seq"]: frozenset(r["members"]) for r in rows}


async def _driver(session: AsyncSession):
    """The asyncpg connection under the session, in its transaction."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


class SourceRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def all(self) -> list[dict]:
        rows = await self.session.execute(select(ci_sources).order_by(ci_sources.c.priority, ci_sources.c.name))
        return [dict(r._mapping) for r in rows.all()]

    async def put(self, name: str, *, priority: int, field_priorities: dict[str, int], description: str | None,
                  stale_after: timedelta | None, retire_missing_after: timedelta | None, by: str,
                  at: datetime) -> None:
        values = {"name": name, "priority": priority, "field_priorities": field_priorities,
                  "description": description, "stale_after": stale_after,
                  "retire_missing_after": retire_missing_after, "updated_at": at, "updated_by": by}
        upsert = pg_insert(ci_sources).values(values)
        await self.session.execute(upsert.on_conflict_do_update(index_elements=["name"], set_=values))

    async def remove(self, name: str) -> bool:
        result = await self.session.execute(delete(ci_sources).where(ci_sources.c.name == name))
        return result.rowcount > 0


class SightingRepository:
    """When each source last reported each CI."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def of(self, ci_ids: Iterable[str]) -> dict[str, dict[str, datetime]]:
        ids = sorted(set(ci_ids))
        if not ids:
            return {}
        rows = await (await _driver(self.session)).fetch(
            "SELECT ci_id, source, last_seen_at FROM ci_sightings WHERE ci_id = ANY($1::varchar[])", ids)
        found: dict[str, dict[str, datetime]] = {}
        for r in rows:
            found.setdefault(r["ci_id"], {})[r["source"]] = r["last_seen_at"]
        return found

    async def record(self, ci_ids: Iterable[str], source: str, at: datetime) -> None:
        """The source reported these CIs at `at` (in id order: two imports meet rather than deadlock)."""
        ids = sorted(set(ci_ids))
        if ids:
            await (await _driver(self.session)).execute("""
                INSERT INTO ci_sightings (ci_id, source, last_seen_at) SELECT unnest($1::varchar[]), $2, $3
                ON CONFLICT (ci_id, source) DO UPDATE
                SET last_seen_at = GREATEST(ci_sightings.last_seen_at, excluded.last_seen_at)
            """, ids, source, at)

    async def missing(self, at: datetime, limit: int) -> list[str]:
        """Live CIs every source that reported them has missed for longer than its rule allows
        (the database narrows; the domain's is_missing decides)."""
        rows = await (await _driver(self.session)).fetch("""
            SELECT s.ci_id FROM ci_sightings s
            JOIN cis c ON c.id = s.ci_id AND c.operational_status <> 'retired'
            LEFT JOIN ci_sources src ON src.name = s.source
            GROUP BY s.ci_id
            HAVING bool_and(src.retire_missing_after IS NOT NULL
                            AND s.last_seen_at < $1::timestamptz - src.retire_missing_after)
            ORDER BY s.ci_id LIMIT $2
        """, at, limit)
        return [r["ci_id"] for r in rows]
