"""The incidents database: incidents and their timeline, alert episodes, the priority matrix, and
the copy of the CMDB this service keeps (itsm_kit.cmdb_copy's tables and repository); a repository for each."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, Select, Sequence, String, Table, Text,
    bindparam, exists, func, or_, select, text, true, tuple_, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_incidents.domain import Activity, AlertEpisode, AlertIdentity, EndedBy, EpisodeStatus, Incident, State
from itsm_kit.cmdb_copy import cmdb_copy_tables
from itsm_kit.db import insert_rows, stored
from itsm_kit.domain import DEFAULT_PRIORITY_MATRIX, PRIORITY_LABELS
from itsm_kit.pagination import keyset, page_of
from itsm_kit.records import AggregateRepository, Numbering, columns_of
from itsm_kit.search import Corrected, Searchable, corrected, matches, ranked, similar_words
from itsm_kit.timeline import Timeline, activity_table

metadata = MetaData()

incident_number = Sequence("incident_number_seq", start=1001, metadata=metadata)

# Search that ranks (issue 18, migrations 0011 and 0012): the text's tsvector and the titles' words, see
# itsm_kit.search.
INCIDENT_SEARCH = Searchable("incidents", title=("number", "short_description"),
                             body=("description", "resolution_notes"), trigram="short_description")
# The words its titles use: what a misspelled word is corrected to (itsm_kit.search).
incident_words = INCIDENT_SEARCH.vocabulary(metadata)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("state", String(20), nullable=False),
    Column("impact", Integer, nullable=False),
    Column("urgency", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("origin", String(20), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("dedup_key", String(255)),
    Column("alert_count", Integer, nullable=False, default=0),
    Column("last_seen_at", DateTime(timezone=True)),
    Column("hold_reason", String(40)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolution_code", String(60)),
    Column("resolution_notes", Text),
    Column("caller", String(100)),
    Column("category", String(100)),
    Column("subcategory", String(100)),
    Column("assignment_group", String(100)),
    Column("assignee", String(100)),
    Column("reassignment_count", Integer, nullable=False, server_default="0"),
    Column("affected_ci", String(255)),
    Column("business_service", String(255)),
    Column("major", Boolean, nullable=False, server_default="false"),
    Column("parent_id", String(36), ForeignKey("incidents.id")),
    Column("priority_override_reason", String(500)),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("closed_at", DateTime(timezone=True)),
    Column("escalated", Boolean, nullable=False, server_default="false"),
    Column("escalation_group", String(100)),
    Column("escalated_at", DateTime(timezone=True)),
    Column("integration_id", String(36)),
    Column("problem_id", String(36)),  # the problem's id, as the problems service's events name it (no foreign key)
    Column("problem_changed_at", DateTime(timezone=True)),  # when problem_id last changed, from either side
    Column("dispatched_at", DateTime(timezone=True)),  # issue 17: the dispatch decision applied last (migration 0010)
    *INCIDENT_SEARCH.schema(),
    Index("incidents_by_opened", "opened_at", "id"),
    # The sort orders lists offer, and the filters a service desk uses most.
    Index("incidents_by_updated", "updated_at", "id"),
    Index("incidents_by_priority", "priority", "id"),
    Index("incidents_by_state", "state"),
    Index("incidents_by_assignment_group", "assignment_group"),
    Index("incidents_by_assignee", "assignee"),
    Index("incidents_by_affected_ci", "affected_ci"),
    Index("incidents_by_business_service", "business_service"),
    # A requester's own incidents (their list, their search): a few among a million (migration 0012).
    Index("incidents_by_caller", "caller", "opened_at", "id"),
    Index("incidents_children", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
    Index("incidents_by_problem", "problem_id", postgresql_where=text("problem_id IS NOT NULL")),
    # What the auto-close job scans.
    Index("incidents_resolved", "resolved_at", postgresql_where=text("state = 'resolved'")),
    Index("incidents_escalated", "escalated_at", postgresql_where=text("escalated")),
    # At most one open incident per alert (an integration's dedup key): the database holds the line
    # even if two consumers race on the same alert.
    Index(
        "incidents_one_open_per_alert", "integration_id", "dedup_key", unique=True,
        postgresql_where=text("dedup_key IS NOT NULL AND state IN ('new', 'in_progress', 'on_hold')"),
    ),
)

# Every change to an incident, who made it and when; comments and work notes too. Append-only.
incident_activity = activity_table(metadata, "incident")
INCIDENT_TIMELINE = Timeline(incident_activity, "incident")

# Impact x urgency -> priority, as an admin set it (seeded with the default by the migration).
priority_matrix = Table(
    "priority_matrix",
    metadata,
    Column("impact", Integer, primary_key=True),
    Column("urgency", Integer, primary_key=True),
    Column("priority", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(255)),
)

class IncidentRepository(AggregateRepository[Incident]):
    table, aggregate, noun = incidents, Incident, "incident"
    numbering = Numbering(incident_number, "INC")
    choices = {"state": State}

    async def with_children(self, ids: list[str]) -> set[str]:
        """Which of these incidents are parents."""
        if not ids:
            return set()
        found = await self.session.scalars(select(incidents.c.parent_id).where(incidents.c.parent_id.in_(ids))
                                           .distinct())
        return set(found.all())

    async def children(self, parent_id: str) -> list[Incident]:
        """A parent's children, locked in id order (so two cascades cannot deadlock)."""
        rows = await self.session.execute(
            stored(incidents).where(incidents.c.parent_id == parent_id).order_by(incidents.c.id).with_for_update()
        )
        return [self.load(r) for r in rows.all()]

    async def has_children(self, incident_id: str) -> bool:
        return bool(await self.session.scalar(select(exists().where(incidents.c.parent_id == incident_id))))

    async def resolved_before(self, cutoff: datetime, limit: int) -> list[Incident]:
        """Resolved non-major incidents due for auto-close, locked; rows another replica holds are skipped."""
        rows = await self.session.execute(
            stored(incidents)
            .where(incidents.c.state == State.RESOLVED.value, incidents.c.resolved_at <= cutoff,
                   incidents.c.major.is_(False))
            .order_by(incidents.c.resolved_at, incidents.c.id).limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [self.load(r) for r in rows.all()]

    async def page(self, where: Mapping[str, Any], *, sort: str, order: str, limit: int,
                   cursor: str | None) -> tuple[list[Incident], str | None]:
        """One page of the incidents `where` names (see _filtered), in the asked order; returns it and the
        next page's cursor."""
        column = incidents.c[sort]
        order_key = f"{sort}:{order}"  # in the cursor: it only continues the same order
        found = await self._corrected(where)
        page = keyset(_filtered(stored(incidents), where, found), (column, incidents.c.id),
                      descending=order == "desc", limit=limit, cursor=cursor, sort=order_key)
        found = [self.load(r) for r in (await self.session.execute(page)).all()]
        return page_of(found, limit, lambda i: (getattr(i, sort), i.id), sort=order_key)

    async def _corrected(self, where: Mapping[str, Any]) -> Corrected | None:
        """The corrections of `q`'s words, looked up first, so that the list is planned for the words it looks for."""
        if not where.get("q"):
            return None
        await similar_words(self.session)
        return await corrected(self.session, INCIDENT_SEARCH, where["q"])

    async def counts(self, where: Mapping[str, Any]) -> tuple[dict[str, int], dict[int, int]]:
        """How many incidents match, by state and by priority (zeros included)."""
        by_state = dict.fromkeys((s.value for s in State), 0)
        by_priority = dict.fromkeys(PRIORITY_LABELS, 0)
        found = await self._corrected(where)
        for column, counts in ((incidents.c.state, by_state), (incidents.c.priority, by_priority)):
            rows = await self.session.execute(_filtered(select(column, func.count()), where, found).group_by(column))
            counts.update({value: n for value, n in rows.all()})
        return by_state, by_priority

    async def search(self, q: str, *, limit: int, caller: str | None = None) -> list[dict[str, Any]]:
        """The incidents `q` finds best, best first (itsm_kit.search); only `caller`'s when given."""
        c = incidents.c
        return await ranked(self.session, incidents, INCIDENT_SEARCH, q,
                            [c.id, c.number, c.short_description, c.state, c.priority, c.caller], limit=limit,
                            where=c.caller == caller if caller is not None else true())

    async def add_activity_many(self, by_incident: Seq[tuple[str, list[Activity]]]) -> None:
        await INCIDENT_TIMELINE.add_many(self.session, by_incident)

    async def activity(self, incident_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        return await INCIDENT_TIMELINE.page(self.session, incident_id, limit=limit, cursor=cursor)


EQUAL_FILTERS = ("assignment_group", "assignee", "caller", "category", "affected_ci", "business_service", "major",
                 "parent_id", "dedup_key", "escalated", "problem_id")


def _filtered(query: Select, where: Mapping[str, Any], found: Corrected | None = None) -> Select:
    """Every filter given must hold: `state` and `priority` (lists: any of), EQUAL_FILTERS, the
    `opened_`/`updated_` `from` (inclusive) and `before` (exclusive) bounds, and text `q`."""
    c = incidents.c
    if where.get("state"):
        query = query.where(c.state.in_(where["state"]))
    if where.get("priority"):
        query = query.where(c.priority.in_(where["priority"]))
    for name in EQUAL_FILTERS:
        if (value := where.get(name)) is not None:
            query = query.where(c[name] == value)
    for column, low, high in ((c.opened_at, where.get("opened_from"), where.get("opened_before")),
                              (c.updated_at, where.get("updated_from"), where.get("updated_before"))):
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column < high)
    if q := where.get("q"):
        # Every word by its stem or, in the title, approximately; or the exact number (itsm_kit.search: indexed).
        query = query.where(matches(incidents, INCIDENT_SEARCH, q, found))
    return query


class PriorityMatrixRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get(self) -> dict[tuple[int, int], int]:
        rows = (await self.session.execute(select(priority_matrix))).all()
        # Seeded by the migration; the default stands in should the table ever be emptied.
        return {(r.impact, r.urgency): r.priority for r in rows} or dict(DEFAULT_PRIORITY_MATRIX)

    async def changed(self) -> tuple[datetime | None, str | None]:
        row = (await self.session.execute(
            select(priority_matrix.c.updated_at, priority_matrix.c.updated_by)
            .order_by(priority_matrix.c.updated_at.desc().nulls_last()).limit(1)
        )).first()
        return (row.updated_at, row.updated_by) if row else (None, None)

    async def replace(self, matrix: dict[tuple[int, int], int], *, by: str, at: datetime) -> None:
        upsert = pg_insert(priority_matrix)
        await self.session.execute(
            upsert.on_conflict_do_update(index_elements=["impact", "urgency"], set_={
                "priority": upsert.excluded.priority, "updated_at": upsert.excluded.updated_at,
                "updated_by": upsert.excluded.updated_by,
            }),
            [{"impact": i, "urgency": u, "priority": p, "updated_at": at, "updated_by": by}
             for (i, u), p in sorted(matrix.items())],
        )


# Alert episodes: monitoring alerts and the incident each is attached to. One active episode per
# alert (integration and dedup key); a cleared one stays as history, and firing again later begins
# a new one (on the same incident, if a storm takes it in).
incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("incident_id", String(36), ForeignKey("incidents.id"), nullable=False),
    Column("dedup_key", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("group_key", String(512)),
    Column("integration_id", String(36), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("summary", String(500), nullable=False),
    Column("count", Integer, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("starts_at", DateTime(timezone=True)),
    Column("ended_by", String(20)),
    Index("incident_alerts_by_incident", "incident_id", "first_seen_at"),
    Index("incident_alerts_one_active_per_alert", "integration_id", "dedup_key", unique=True,
          postgresql_where=text("status <> 'resolved'")),
    Index("incident_alerts_active_by_group", "integration_id", "group_key", "last_seen_at",
          postgresql_where=text("status <> 'resolved' AND group_key IS NOT NULL")),
    # What tells a replayed notification of an episode its source resolved.
    Index("incident_alerts_ended_at_source", "integration_id", "dedup_key", "starts_at",
          postgresql_where=text("ended_by = 'source'")),
)

_ACTIVE = incident_alerts.c.status != EpisodeStatus.RESOLVED.value
_EPISODE_FIELDS = [f.name for f in dataclasses.fields(AlertEpisode)]


def _to_episode(row) -> AlertEpisode:
    values = columns_of(row, _EPISODE_FIELDS)
    return AlertEpisode(**values | {"status": EpisodeStatus(values["status"]),
                                    "ended_by": values["ended_by"] and EndedBy(values["ended_by"])})


class AlertRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def active(self, alerts: Iterable[AlertIdentity]) -> list[AlertEpisode]:
        """The active episode of each alert, locked: their repeats in other runs queue behind this transaction."""
        wanted = sorted(set(alerts))
        if not wanted:
            return []
        c = incident_alerts.c
        rows = await self.session.execute(
            select(incident_alerts).where(tuple_(c.integration_id, c.dedup_key).in_(wanted), _ACTIVE)
            .order_by(c.integration_id, c.dedup_key).with_for_update()
        )
        return [_to_episode(r) for r in rows.all()]

    async def ended_at_source(self, episodes: Iterable[tuple[AlertIdentity, datetime]]
                              ) -> list[tuple[AlertIdentity, datetime]]:
        """Which of these (alert, starts_at) episodes their source has resolved already."""
        wanted = sorted({(i, k, at) for (i, k), at in episodes})
        if not wanted:
            return []
        c = incident_alerts.c
        rows = await self.session.execute(
            select(c.integration_id, c.dedup_key, c.starts_at).distinct()
            .where(tuple_(c.integration_id, c.dedup_key, c.starts_at).in_(wanted), c.ended_by == EndedBy.SOURCE.value))
        return [((i, k), at) for i, k, at in rows.all()]

    async def active_in_groups(self, seen_since: Mapping[tuple[str, str], datetime]) -> list[AlertEpisode]:
        """The active episodes of each (integration, group) seen since its time: the candidates of a storm."""
        if not seen_since:
            return []
        c = incident_alerts.c
        rows = await self.session.execute(select(incident_alerts).where(_ACTIVE, or_(*(
            (c.integration_id == integration) & (c.group_key == group) & (c.last_seen_at >= since)
            for (integration, group), since in sorted(seen_since.items())))))
        return [_to_episode(r) for r in rows.all()]

    async def active_counts(self, incident_ids: Iterable[str]) -> dict[str, int]:
        ids = sorted(set(incident_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(incident_alerts.c.incident_id, func.count()).where(incident_alerts.c.incident_id.in_(ids), _ACTIVE)
            .group_by(incident_alerts.c.incident_id)
        )
        return dict(rows.all())

    async def of(self, incident_id: str) -> list[AlertEpisode]:
        c = incident_alerts.c
        rows = await self.session.execute(select(incident_alerts).where(c.incident_id == incident_id)
                                          .order_by(c.first_seen_at, c.dedup_key, c.id))
        return [_to_episode(r) for r in rows.all()]

    async def save(self, changed: Iterable[AlertEpisode], begun: Iterable[AlertEpisode]) -> None:
        """Changed episodes before new ones: a resolved episode leaves its alert's "one active" slot first."""
        changed = [{"b_id": e.id, "status": e.status.value, "count": e.count, "last_seen_at": e.last_seen_at,
                    "ended_by": e.ended_by and e.ended_by.value} for e in changed]
        if changed:
            await self.session.execute(update(incident_alerts).where(incident_alerts.c.id == bindparam("b_id")),
                                       changed)
        if rows := [{name: getattr(e, name) for name in _EPISODE_FIELDS}
                    | {"status": e.status.value, "ended_by": e.ended_by and e.ended_by.value} for e in begun]:
            await insert_rows(self.session, incident_alerts, rows)


# -- the copy of the CMDB (itsm_kit.cmdb_copy): the CIs incidents name and the business services they impact ----
cmdb_cis, cmdb_relationships = cmdb_copy_tables(metadata)


async def write_timeline(session: AsyncSession, by_incident: Seq[tuple[str, list[Activity]]]) -> None:
    """The unit of work's timeline writer: each incident's new timeline lines."""
    await IncidentRepository(session).add_activity_many(by_incident)
