"""The changes database: tables and the repository that maps them to ChangeRequest."""

from __future__ import annotations

# risk (issue 15)
import dataclasses

from sqlalchemy import text

from itsm_contracts.events.incidents import OPEN_INCIDENT_STATES
from itsm_kit.cmdb_copy import cmdb_copy_tables
from itsm_kit.db import InsertNew, stored
from itsm_changes.domain import (
    FAILED_CLOSE_CODES, RISK_ASSESSED_IN, RiskFactor, RiskLevel, SuspectedIncident,
)

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from collections.abc import Sequence as Seq

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, Select, Sequence, String, Table, Text,
    UniqueConstraint, select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from itsm_changes.domain import (
    PLAN_FIELDS, Approval, ApprovalPolicy, ChangeRequest, ChangeTemplate, ChangeType, PolicyRisk, Rule, State,
)
from itsm_kit.domain import Activity
from itsm_kit.timeline import Timeline, activity_table
from itsm_kit.pagination import newest_first, page_of
from itsm_kit.records import AggregateRepository, Numbering
from itsm_kit.search import Searchable, ranked
from itsm_changes.domain import ChangeWindow, Related, WindowKind  # schedule (issue 15)

metadata = MetaData()

change_number = Sequence("change_number_seq", start=1001, metadata=metadata)

# Search that ranks (issue 18, migrations 0007 and 0008): the text's tsvector and the titles' words, see
# itsm_kit.search.
CHANGE_SEARCH = Searchable("changes", title=("number", "short_description"), body=("description", "close_notes"),
                           trigram="short_description")
# The words its titles use: what a misspelled word is corrected to (itsm_kit.search).
change_words = CHANGE_SEARCH.vocabulary(metadata)

changes = Table(
    "changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False),
    Column("change_type", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("planned_start", DateTime(timezone=True)),
    Column("planned_end", DateTime(timezone=True)),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("assignee", String(100)),
    Column("assignment_group", String(100)),
    Column("affected_cis", ARRAY(String(64)), nullable=False),
    # The decisions, oldest first ({approver, decision, comment, at}): read and written with the change.
    Column("approvals", JSONB, nullable=False),
    # -- lifecycle (issue 15)
    *(Column(name, Text) for name in PLAN_FIELDS),
    Column("template_id", String(36)),
    Column("approval_round", Integer, nullable=False),
    Column("implemented_at", DateTime(timezone=True)),
    Column("close_code", String(30)),
    Column("close_notes", Text),
    Column("closed_at", DateTime(timezone=True)),
    # risk (issue 15): the last assessment ({name, detail, points} each) and the incidents it possibly caused
    Column("risk", String(20)),
    Column("risk_factors", JSONB, nullable=False),
    Column("risk_assessed_at", DateTime(timezone=True)),
    Column("suspected_incidents", JSONB, nullable=False),
    # schedule (issue 15): an emergency's reason to run in a blackout; conflicts ({change_id, number, ci, other_ci,
    # relation, reason} each); the CI/CD deployment it records, and that deployment's id (one change per id)
    Column("blackout_reason", Text),
    Column("conflicts", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("deployment_id", String(200)),
    Column("deployment", JSONB),
    Index("changes_by_deployment", "deployment_id", unique=True, postgresql_where=text("deployment_id IS NOT NULL")),
    Index("changes_by_requested", "requested_at", "id"),
    # The filters lists offer: each keeps the newest-first order, so a filtered page is an index range.
    Index("changes_by_state", "state", "requested_at", "id"),
    Index("changes_by_assignee", "assignee", "requested_at", "id"),
    Index("changes_by_group", "assignment_group", "requested_at", "id"),
    Index("changes_by_planned_start", "planned_start"),
    Index("changes_by_ci", "affected_cis", postgresql_using="gin"),
    *CHANGE_SEARCH.schema(),
)


def _approval(stored: Mapping[str, Any]) -> Approval:
    return Approval(approver=stored["approver"], decision=stored["decision"], comment=stored["comment"],
                    at=datetime.fromisoformat(stored["at"]), round=stored.get("round", 0), group=stored.get("group"))


class ChangeRepository(AggregateRepository[ChangeRequest]):
    table, aggregate, noun = changes, ChangeRequest, "change request"
    numbering = Numbering(change_number, "CHG")
    choices = {"change_type": ChangeType, "state": State}

    async def search(self, q: str, *, limit: int) -> list[dict[str, Any]]:
        """The changes `q` finds best, best first (itsm_kit.search)."""
        c = changes.c
        return await ranked(self.session, changes, CHANGE_SEARCH, q,
                            [c.id, c.number, c.short_description, c.state, c.change_type], limit=limit)

    def load(self, row: Any) -> ChangeRequest:
        change = super().load(row)
        change.approvals = [_approval(a) for a in change.approvals]
        _load_risk(change)
        return change

    def row(self, change: ChangeRequest) -> dict[str, Any]:
        return {**super().row(change), **_risk_row(change), "approvals": [
            {"approver": a.approver, "decision": a.decision, "comment": a.comment, "at": a.at.isoformat(),
             "round": a.round, "group": a.group}
            for a in change.approvals]}

    async def page(self, *, limit: int, cursor: str | None = None, state: list[str] | None = None,
                   assignee: str | None = None, assignment_group: str | None = None, affected_ci: str | None = None,
                   planned_start_from: datetime | None = None, planned_start_before: datetime | None = None,
                   ) -> tuple[list[ChangeRequest], str | None]:
        """Newest requested first, those every filter given holds for; the page and the next page's cursor.
        The planned start range includes `from` and excludes `before`."""
        c = changes.c
        query: Select = stored(changes)
        if state:
            query = query.where(c.state.in_(state))
        for column, value in ((c.assignee, assignee), (c.assignment_group, assignment_group)):
            if value is not None:
                query = query.where(column == value)
        if affected_ci is not None:
            query = query.where(c.affected_cis.contains([affected_ci]))  # @>, which the GIN index serves
        if planned_start_from is not None:
            query = query.where(c.planned_start >= planned_start_from)
        if planned_start_before is not None:
            query = query.where(c.planned_start < planned_start_before)
        query = newest_first(query, c.requested_at, c.id, limit=limit, cursor=cursor)
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda change: (change.requested_at, change.id))


# -- lifecycle (issue 15): the timeline, standard change templates, approval policies ----------------------

change_activity = activity_table(metadata, "change")
CHANGE_TIMELINE = Timeline(change_activity, "change")


async def write_timeline(session: AsyncSession, by_change: Seq[tuple[str, list[Activity]]]) -> None:
    """The unit of work's timeline writer: each change's new timeline lines."""
    await CHANGE_TIMELINE.add_many(session, by_change)


async def change_activity_page(session: AsyncSession, change_id: str, *, limit: int,
                               cursor: str | None) -> tuple[list[dict], str | None]:
    return await CHANGE_TIMELINE.page(session, change_id, limit=limit, cursor=cursor)


change_templates = Table(
    "change_templates",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False),
    *(Column(name, Text, nullable=False) for name in PLAN_FIELDS),
    Column("assignment_group", String(100)),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("version", BigInteger, nullable=False),
)


class ChangeTemplateRepository(AggregateRepository[ChangeTemplate]):
    table, aggregate, noun = change_templates, ChangeTemplate, "change template"

    async def all(self, *, active: bool | None = None) -> list[ChangeTemplate]:
        query = select(change_templates).order_by(change_templates.c.name)
        if active is not None:
            query = query.where(change_templates.c.active == active)
        return [self.load(r) for r in (await self.session.execute(query)).all()]


approval_policies = Table(
    "change_approval_policies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("change_type", String(20), nullable=False),
    Column("risk", String(20), nullable=False),
    Column("group_name", String(100), nullable=False),
    Column("approvers", ARRAY(String(255)), nullable=False),
    Column("rule", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("version", BigInteger, nullable=False),
    UniqueConstraint("change_type", "risk", name="change_approval_policies_one_per_type_and_risk"),
)


class ApprovalPolicyRepository(AggregateRepository[ApprovalPolicy]):
    table, aggregate, noun = approval_policies, ApprovalPolicy, "approval policy"
    choices = {"change_type": ChangeType, "risk": PolicyRisk, "rule": Rule}

    async def all(self, *, change_type: str | None = None) -> list[ApprovalPolicy]:
        query = select(approval_policies).order_by(approval_policies.c.change_type, approval_policies.c.risk)
        if change_type is not None:
            query = query.where(approval_policies.c.change_type == change_type)
        return [self.load(r) for r in (await self.session.execute(query)).all()]


# -- risk (issue 15): the CMDB copy, a slim incident copy, the reads risk and "possibly caused by" make -----------

cmdb_cis, cmdb_relationships = cmdb_copy_tables(metadata)
# Walks downstream (what a CI depends on): which changes an event on a CI concerns.
Index("cmdb_relationships_live_by_source", cmdb_relationships.c.source_id, cmdb_relationships.c.target_id,
      postgresql_where=text("NOT removed"))

# The incidents as far as risk and "possibly caused by" need them, kept current from itsm.incidents. affected_ci is
# the CMDB id when the copy knew the CI the incident named, else the reference as given.
incident_copy = Table(
    "incident_copy",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20)),
    Column("affected_ci", String(64)),
    Column("priority", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Index("incident_copy_by_ci", "affected_ci"),
)
_COPY_OPENED = InsertNew(incident_copy, ("id", "number", "affected_ci", "priority", "state", "opened_at", "sequence"),
                         key=["id"])


def _load_risk(change: ChangeRequest) -> None:
    change.risk = RiskLevel(change.risk) if change.risk else None
    change.risk_factors = [RiskFactor(**f) for f in change.risk_factors]
    change.suspected_incidents = [
        SuspectedIncident(**{**s, "opened_at": datetime.fromisoformat(s["opened_at"])})
        for s in change.suspected_incidents]


def _risk_row(change: ChangeRequest) -> dict[str, Any]:
    return {"risk": change.risk and str(change.risk),
            "risk_factors": [dataclasses.asdict(f) for f in change.risk_factors],
            "suspected_incidents": [{**dataclasses.asdict(s), "opened_at": s.opened_at.isoformat()}
                                    for s in change.suspected_incidents]}


class IncidentCopy:
    """The incident copy: written from itsm.incidents (each change applied only if newer than what is kept)."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def kept(self, incident_ids: Seq[str]) -> dict[str, tuple[str | None, int]]:
        """The CI and sequence the copy keeps of each of these incidents it has, in one statement."""
        if not incident_ids:
            return {}
        c = incident_copy.c
        rows = await self.session.execute(select(c.id, c.affected_ci, c.sequence).where(
            c.id.in_(sorted(set(incident_ids)))))
        return {r.id: (r.affected_ci, r.sequence) for r in rows.all()}

    async def add(self, rows: list[dict[str, Any]]) -> None:
        """Opened incidents, in one statement; one seen before (a replay) stays as it is."""
        await _COPY_OPENED(self.session, rows)

    async def change(self, changes: list[tuple[str, int, dict[str, Any]]]) -> None:
        """(incident id, event sequence, fields) at most once per incident (a run's changes folded), in one
        statement; each applied only if newer than the row."""
        if not changes:
            return
        await self.session.execute(text("""
            UPDATE incident_copy AS c SET
                affected_ci = CASE WHEN v.moved THEN v.affected_ci ELSE c.affected_ci END,
                priority = coalesce(v.priority, c.priority), state = coalesce(v.state, c.state),
                sequence = v.sequence
            FROM unnest(CAST(:id AS varchar[]), CAST(:sequence AS bigint[]), CAST(:moved AS boolean[]),
                        CAST(:affected_ci AS varchar[]), CAST(:priority AS int[]), CAST(:state AS varchar[]))
                AS v(id, sequence, moved, affected_ci, priority, state)
            WHERE c.id = v.id AND c.sequence < v.sequence
        """), {"id": [i for i, _, _ in changes], "sequence": [s for _, s, _ in changes],
               # priority and state are never null: null here keeps the row's; a CI may be taken off (null)
               "moved": ["affected_ci" in v for _, _, v in changes],
               "affected_ci": [v.get("affected_ci") for _, _, v in changes],
               "priority": [v.get("priority") for _, _, v in changes],
               "state": [v.get("state") for _, _, v in changes]})

    async def open_on(self, ci_ids: list[str], priorities: tuple[int, ...]) -> list[dict[str, Any]]:
        """Open incidents of these priorities on any of the CIs, most urgent first."""
        if not ci_ids:
            return []
        c = incident_copy.c
        rows = await self.session.execute(
            select(c.id, c.number, c.priority, c.affected_ci)
            .where(c.affected_ci.in_(ci_ids), c.priority.in_(priorities), c.state.in_(sorted(OPEN_INCIDENT_STATES)))
            .order_by(c.priority, c.opened_at, c.id))
        return [dict(r._mapping) for r in rows.all()]


class RiskReads:
    """What risk and "possibly caused by" ask of the changes table."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def serialize(self) -> None:
        """One risk assessment at a time, until this transaction ends: each then reads the copies as the one before
        left them (two runs of CMDB events committing side by side would each miss the other's CIs or edges)."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('itsm-changes-risk'))"))

    async def failed_on(self, ci_ids: list[str], since: datetime, *, other_than: str) -> list[dict[str, Any]]:
        """Changes on any of the CIs closed unsuccessful or backed out since then (by implementation, else
        closure), newest first."""
        if not ci_ids:
            return []
        rows = await self.session.execute(text("""
            SELECT number, close_code FROM changes
            WHERE affected_cis && CAST(:cis AS varchar[]) AND close_code = ANY(CAST(:codes AS varchar[]))
              AND coalesce(implemented_at, closed_at, updated_at) >= :since AND id <> :other_than
            ORDER BY coalesce(implemented_at, closed_at, updated_at) DESC, number
        """), {"cis": ci_ids, "codes": sorted(FAILED_CLOSE_CODES), "since": since, "other_than": other_than})
        return [dict(r._mapping) for r in rows.all()]

    async def awaiting_approval_on(self, ci_ids: list[str]) -> list[str]:
        """The changes still assessed (before approval) touching any of the CIs."""
        if not ci_ids:
            return []
        rows = await self.session.execute(
            select(changes.c.id).where(changes.c.state.in_(sorted(RISK_ASSESSED_IN)),
                                       changes.c.affected_cis.overlap(ci_ids)).order_by(changes.c.id))
        return list(rows.scalars().all())

    async def any_awaiting_approval(self) -> bool:
        """Whether any change with affected CIs is still assessed (no walk of the CMDB is needed without one)."""
        found = await self.session.execute(
            select(changes.c.id).where(changes.c.state.in_(sorted(RISK_ASSESSED_IN)),
                                       changes.c.affected_cis != []).limit(1))
        return found.first() is not None

    async def implemented_between(self, ci_ids: list[str], since: datetime, until: datetime
                                  ) -> list[dict[str, Any]]:
        """Changes touching any of the CIs implemented in [since, until], not canceled (id, affected_cis,
        implemented_at), by id: for a run's incidents at once, each then keeps those in its own window."""
        if not ci_ids:
            return []
        rows = await self.session.execute(text("""
            SELECT id, affected_cis, implemented_at FROM changes
            WHERE affected_cis && CAST(:cis AS varchar[]) AND implemented_at <= :until
              AND implemented_at >= :since AND state <> 'canceled'
            ORDER BY id
        """), {"cis": ci_ids, "until": until, "since": since})
        return [dict(r._mapping) for r in rows.all()]

    async def success_rate(self, by: str) -> list[dict[str, Any]]:
        """Closed changes with a close code, counted per CI, assignment group or change type."""
        key = {"ci": "unnest(CASE WHEN affected_cis = '{}' THEN ARRAY['(none)']::varchar[] ELSE affected_cis END)",
               "assignment_group": "coalesce(assignment_group, '(none)')", "change_type": "change_type"}[by]
        rows = await self.session.execute(text(f"""
            SELECT key, count(*) AS closed,
                   count(*) FILTER (WHERE close_code IN ('successful', 'successful_with_issues')) AS successful,
                   count(*) FILTER (WHERE close_code = 'unsuccessful') AS unsuccessful,
                   count(*) FILTER (WHERE close_code = 'backed_out') AS backed_out
            FROM (SELECT {key} AS key, close_code FROM changes WHERE state = 'closed' AND close_code IS NOT NULL) c
            GROUP BY key
        """))
        return [dict(r._mapping) for r in rows.all()]


# -- schedule (issue 15): blackout and maintenance windows, calendar feeds, conflicts' and calendar's reads ---------

change_windows = Table(
    "change_windows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(160), nullable=False),
    Column("start", DateTime(timezone=True), nullable=False),
    Column("end", DateTime(timezone=True), nullable=False),
    Column("cis", ARRAY(String(64)), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Index("change_windows_by_time", "kind", "start", "end"),
)

calendar_feeds = Table(
    "change_calendar_feeds",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 of the key: the key is never kept
    Column("key_prefix", String(12), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Index("change_calendar_feeds_by_owner", "owner", "created_at"),
)


class ChangeWindowRepository(AggregateRepository[ChangeWindow]):
    table, aggregate, noun = change_windows, ChangeWindow, "change window"
    choices = {"kind": WindowKind}

    async def overlapping(self, *, kind: str | None = None, start: datetime | None = None,
                          end: datetime | None = None, limit: int = 1_000) -> list[ChangeWindow]:
        """Windows overlapping [start, end) (an open bound: unbounded), soonest first."""
        w = change_windows.c
        query = select(change_windows).order_by(w.start, w.id).limit(limit)
        if kind is not None:
            query = query.where(w.kind == kind)
        if start is not None:
            query = query.where(w.end > start)
        if end is not None:
            query = query.where(w.start < end)
        return [self.load(r) for r in (await self.session.execute(query)).all()]


async def changes_holding_window(session: AsyncSession, *, start: datetime, end: datetime, cis: Seq[str],
                                 states: Seq[str], excluding: str) -> list[str]:
    """Ids of changes in `states` whose planned window overlaps [start, end) on any of `cis`."""
    c = changes.c
    rows = await session.execute(select(c.id).where(
        c.state.in_(list(states)), c.planned_start < end, c.planned_end > start, c.id != excluding,
        c.affected_cis.overlap(list(cis))))  # &&, which the GIN index serves
    return [r.id for r in rows.all()]


async def changes_in_period(session: AsyncSession, *, start: datetime, end: datetime, states: Seq[str],
                            limit: int = 5_000) -> list[ChangeRequest]:
    c = changes.c
    rows = await session.execute(stored(changes).where(
        c.state.in_(list(states)), c.planned_start < end, c.planned_end > start,
    ).order_by(c.planned_start, c.id).limit(limit))
    repo = ChangeRepository(session)
    return [repo.load(r) for r in rows.all()]


async def change_by_deployment(session: AsyncSession, deployment_id: str) -> str | None:
    return (await session.execute(select(changes.c.id).where(changes.c.deployment_id == deployment_id))).scalar()


async def lock_schedule(session: AsyncSession) -> None:
    """Schedule changes one at a time (this transaction's end releases it): two changes scheduled at once would
    each miss the other's conflict, and each reconciliation locks other changes too (no deadlock this way)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('itsm_changes.schedule'))"))


async def related_cis(session: AsyncSession, cis: Seq[str], *, max_depth: int = 20) -> Related:
    """From the CMDB copy: for each CI, those depending on it and those it depends on, directly or not (live
    relationships; a source depends on its target)."""
    if not cis:
        return Related()
    walks = {}
    for direction, (near, far) in {"dependents": ("target_id", "source_id"),
                                   "dependencies": ("source_id", "target_id")}.items():
        rows = await session.execute(text(f"""
            WITH RECURSIVE walk(start, id, depth) AS (
                SELECT s.id, s.id, 0 FROM unnest(CAST(:cis AS varchar[])) AS s(id)
              UNION
                SELECT walk.start, r.{far}, walk.depth + 1
                FROM walk JOIN cmdb_relationships r ON r.{near} = walk.id AND NOT r.removed
                WHERE walk.depth < :max_depth
            )
            SELECT DISTINCT start, id FROM walk WHERE id <> start
        """), {"cis": sorted(set(cis)), "max_depth": max_depth})
        found: dict[str, set[str]] = {}
        for start, ci in rows.all():
            found.setdefault(start, set()).add(ci)
        walks[direction] = {ci: frozenset(ids) for ci, ids in found.items()}
    return Related(**walks)


async def add_feed(session: AsyncSession, row: dict) -> None:
    await session.execute(calendar_feeds.insert().values(**row))


async def feed_by_hash(session: AsyncSession, key_hash: str) -> dict | None:
    row = (await session.execute(select(calendar_feeds).where(calendar_feeds.c.key_hash == key_hash))).first()
    return dict(row._mapping) if row else None


async def feeds_of(session: AsyncSession, owner: str) -> list[dict]:
    f = calendar_feeds.c
    rows = await session.execute(select(calendar_feeds).where(f.owner == owner).order_by(f.created_at, f.id))
    return [dict(r._mapping) for r in rows.all()]


async def revoke_feed(session: AsyncSession, feed_id: str, owner: str, at: datetime) -> dict | None:
    f = calendar_feeds.c
    await session.execute(calendar_feeds.update().where(f.id == feed_id, f.owner == owner, f.revoked_at.is_(None))
                          .values(revoked_at=at))
    row = (await session.execute(select(calendar_feeds).where(f.id == feed_id, f.owner == owner))).first()
    return dict(row._mapping) if row else None
