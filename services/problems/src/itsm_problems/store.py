"""The problems database: tables and the repository that maps them to Problem."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Any

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, Select, Sequence, String, Table,
    Text, bindparam, delete, func, select, text, update,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.cmdb_copy import cmdb_copy_tables
from itsm_kit.db import InsertNew, stored
from itsm_kit.pagination import newest_first, page_of
from itsm_kit.records import AggregateRepository, Numbering
from itsm_kit.search import ANY_WORD, Searchable, ranked
from itsm_kit.timeline import Timeline, activity_table
from itsm_problems.domain import (
    MAX_LINKED_INCIDENTS, MAX_SEARCH_TEXT, MIN_SUGGESTION_SCORE, SUGGESTIONS_PER_INCIDENT, Activity, CauseCode,
    DetectionRule, Dimension, KnownError, KnownErrorState, Problem, ResolutionCode, State,
)

metadata = MetaData()

problem_number = Sequence("problem_number_seq", start=1001, metadata=metadata)

# Search that ranks (issue 18, migrations 0009 and 0010): the text's tsvector and the titles' words, see
# itsm_kit.search.
PROBLEM_SEARCH = Searchable("problems", title=("number", "short_description"),
                            body=("description", "root_cause", "workaround"), trigram="short_description")
# The words its titles use: what a misspelled word is corrected to (itsm_kit.search).
problem_words = PROBLEM_SEARCH.vocabulary(metadata)

problems = Table(
    "problems",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False),
    Column("state", String(30), nullable=False),
    Column("impact", Integer, nullable=False),
    Column("urgency", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("opened_by", String(255), nullable=False),
    Column("assignee", String(100)),
    Column("assignment_group", String(100)),
    Column("related_incidents", ARRAY(String(64)), nullable=False),
    Column("root_cause", Text),
    Column("cause_code", String(20)),
    Column("fix_change_id", String(64)),
    Column("resolution_code", String(20)),
    Column("resolution_notes", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("affected_cis", ARRAY(String(64)), nullable=False),
    Column("known_error_id", String(36)),
    Column("known_error_number", String(20)),
    Column("workaround", Text),
    Column("detection_rule_id", String(36)),
    Column("detected_on", String(20)),
    Column("detected_value", String(255)),
    Column("dispatched_at", DateTime(timezone=True)),  # issue 17: the dispatch decision applied last (migration 0008)
    *PROBLEM_SEARCH.schema(),
    Index("problems_by_opened", "opened_at", "id"),
    # The filters lists offer: each keeps the newest-first order, so a filtered page is an index range.
    Index("problems_by_state", "state", "opened_at", "id"),
    Index("problems_by_assignee", "assignee", "opened_at", "id"),
    Index("problems_by_group", "assignment_group", "opened_at", "id"),
    Index("problems_by_incident", "related_incidents", postgresql_using="gin"),
    Index("problems_by_ci", "affected_cis", postgresql_using="gin"),
    # At most one problem detection opened per CI, business service or category until it is closed or canceled:
    # replays and replicas racing on the same storm cannot open a second (a resolved one still collects recurrences,
    # the sign its fix did not hold, and may be re-analysed without clashing with a newer one).
    Index("problems_open_detection", "detected_on", "detected_value", unique=True,
          postgresql_where=text("detected_on IS NOT NULL AND state NOT IN ('closed', 'canceled')")),
)

# The CMDB as this service last heard of it (itsm.cmdb events): which business services a problem's CIs serve.
cmdb_cis, cmdb_relationships = cmdb_copy_tables(metadata)

# Every change to a problem, who made it and when; comments and work notes too. Append-only.
problem_activity = activity_table(metadata, "problem")
PROBLEM_TIMELINE = Timeline(problem_activity, "problem")


def _maybe(choices: type) -> object:
    return lambda value: None if value is None else choices(value)


class ProblemRepository(AggregateRepository[Problem]):
    table, aggregate, noun = problems, Problem, "problem"
    numbering = Numbering(problem_number, "PRB")
    choices = {"state": State, "cause_code": _maybe(CauseCode), "resolution_code": _maybe(ResolutionCode)}

    async def search(self, q: str, *, limit: int) -> list[dict[str, Any]]:
        """The problems `q` finds best, best first (itsm_kit.search)."""
        c = problems.c
        return await ranked(self.session, problems, PROBLEM_SEARCH, q,
                            [c.id, c.number, c.short_description, c.state, c.priority], limit=limit)

    async def page(self, *, limit: int, cursor: str | None = None, state: list[str] | None = None,
                   assignee: str | None = None, assignment_group: str | None = None,
                   incident_id: str | None = None) -> tuple[list[Problem], str | None]:
        """Newest first, those every filter given holds for; the page and the next page's cursor."""
        c = problems.c
        query: Select = stored(problems)
        if state:
            query = query.where(c.state.in_(state))
        for column, value in ((c.assignee, assignee), (c.assignment_group, assignment_group)):
            if value is not None:
                query = query.where(column == value)
        if incident_id is not None:
            query = query.where(c.related_incidents.contains([incident_id]))  # @>, which the GIN index serves
        query = newest_first(query, c.opened_at, c.id, limit=limit, cursor=cursor)
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda problem: (problem.opened_at, problem.id))

    async def add_activity_many(self, by_problem: Seq[tuple[str, list[Activity]]]) -> None:
        await PROBLEM_TIMELINE.add_many(self.session, by_problem)

    async def activity(self, problem_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        return await PROBLEM_TIMELINE.page(self.session, problem_id, limit=limit, cursor=cursor)


# -- known errors ------------------------------------------------------------------------------

known_error_number = Sequence("known_error_number_seq", start=1001, metadata=metadata)

known_errors = Table(
    "known_errors",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("problem_id", String(36), ForeignKey("problems.id"), nullable=False, unique=True),  # one per problem
    Column("problem_number", String(20), nullable=False),
    Column("title", String(160), nullable=False),
    Column("symptoms", Text, nullable=False),
    Column("workaround", Text, nullable=False),
    Column("root_cause", Text, nullable=False),
    Column("cause_code", String(20), nullable=False),
    Column("affected_cis", ARRAY(String(64)), nullable=False),
    Column("state", String(20), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("published_by", String(255), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("retired_reason", Text),
    Column("version", BigInteger, nullable=False),
    Index("known_errors_by_published", "published_at", "id"),
    Index("known_errors_by_ci", "affected_cis", postgresql_using="gin"),
)


class KnownErrorRepository(AggregateRepository[KnownError]):
    table, aggregate, noun = known_errors, KnownError, "known error"
    numbering = Numbering(known_error_number, "KE")
    choices = {"state": KnownErrorState, "cause_code": CauseCode}

    async def of_problem(self, problem_id: str, *, for_update: bool = False) -> KnownError | None:
        query = select(known_errors).where(known_errors.c.problem_id == problem_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        return self.load(row) if row else None

    async def page(self, *, limit: int, cursor: str | None = None, state: list[str] | None = None,
                   ci_id: str | None = None) -> tuple[list[KnownError], str | None]:
        """Newest published first, those every filter given holds for."""
        c = known_errors.c
        query: Select = select(known_errors)
        if state:
            query = query.where(c.state.in_(state))
        if ci_id is not None:
            query = query.where(c.affected_cis.contains([ci_id]))
        query = newest_first(query, c.published_at, c.id, limit=limit, cursor=cursor)
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda known: (known.published_at, known.id))


async def write_timeline(session: AsyncSession, by_problem: Seq[tuple[str, list[Activity]]]) -> None:
    """The unit of work's timeline writer: each problem's new timeline lines."""
    await ProblemRepository(session).add_activity_many(by_problem)


# -- detection, suggestions, reports ------------------------------------------------

# What this service knows of each incident, from itsm.incidents: enough to count recurrences, search their text and
# chart them per week. Slim: the incidents service owns the incident.
incident_observations = Table(
    "incident_observations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("affected_ci", String(255)),
    Column("business_service", String(255)),
    Column("category", String(100)),
    Column("state", String(20), nullable=False),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False),
    Column("parent_id", String(36)),
    # Each dimension's count is a range of its index: the value, then the window.
    Index("incident_observations_by_ci", "affected_ci", "opened_at"),
    Index("incident_observations_by_business_service", "business_service", "opened_at"),
    Index("incident_observations_by_category", "category", "opened_at"),
    Index("incident_observations_by_opened", "opened_at"),
)
OBSERVED_FIELDS = ("affected_ci", "business_service", "category", "short_description", "description", "parent_id",
                   "state")
DIMENSION_COLUMNS = {Dimension.CI: "affected_ci", Dimension.BUSINESS_SERVICE: "business_service",
                     Dimension.CATEGORY: "category"}
# Counted: top-level incidents that were not canceled (a child is its parent's outage again; a canceled one was a
# duplicate or no incident at all).
COUNTED = "o.state <> 'canceled' AND o.parent_id IS NULL"

detection_rules = Table(
    "detection_rules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("dimension", String(20), nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("window_minutes", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("impact", Integer, nullable=False),
    Column("urgency", Integer, nullable=False),
    Column("assignment_group", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("version", BigInteger, nullable=False),
)

# The top suggestions for each new incident, as ranked when it was opened.
link_suggestions = Table(
    "link_suggestions",
    metadata,
    Column("incident_id", String(36), primary_key=True),
    Column("problem_id", String(36), ForeignKey("problems.id"), primary_key=True),
    Column("score", Float, nullable=False),
    Column("known_error_id", String(36)),
    Column("suggested_at", DateTime(timezone=True), nullable=False),
)

# Each problem's text with its published known error's, weighted (short description A, description B, root cause C,
# the known error's title and symptoms A), kept by triggers (migration 0006) whoever writes either table.
problem_search = Table(
    "problem_search",
    metadata,
    Column("problem_id", String(36), ForeignKey("problems.id"), primary_key=True),
    Column("search", TSVECTOR, nullable=False),
    Index("problem_search_by_text", "search", postgresql_using="gin"),
)

OPEN_FOR_DETECTION = "state NOT IN ('closed', 'canceled')"  # problems_open_detection's predicate
SUGGESTED_STATES = "('resolved', 'closed', 'canceled')"  # never suggested: done with


def _texts(name: str) -> Any:
    return bindparam(name, type_=ARRAY(Text))


class DetectionRuleRepository(AggregateRepository[DetectionRule]):
    table, aggregate, noun = detection_rules, DetectionRule, "detection rule"
    choices = {"dimension": Dimension}

    async def all(self, *, enabled_only: bool = False) -> list[DetectionRule]:
        query = select(detection_rules).order_by(detection_rules.c.created_at, detection_rules.c.id)
        if enabled_only:
            query = query.where(detection_rules.c.enabled)
        return [self.load(r) for r in (await self.session.execute(query)).all()]


_OBSERVE = InsertNew(incident_observations, [c.name for c in incident_observations.c if c.computed is None])


class Observations:
    """The incidents read model, and the queries detection, suggestions and reports make of it."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, rows: list[dict[str, Any]]) -> None:
        """New incidents, in one statement; one seen before (a replay) stays as it is."""
        await _OBSERVE(self.session, rows)

    async def change(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        """Fields of observed incidents, in order (an incident never observed is not made up from a change)."""
        by_fields: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for incident_id, values in changes:
            by_fields.setdefault(tuple(sorted(values)), []).append({"b_id": incident_id, **values})
        for fields, rows in by_fields.items():  # each group keeps its order; an incident's changes rarely mix
            statement = update(incident_observations).where(incident_observations.c.id == bindparam("b_id")) \
                .values({name: bindparam(name) for name in fields})
            await self.session.execute(statement, rows)

    async def prune(self, before: Any, limit: int) -> int:
        """Deletes up to `limit` incidents opened before `before`, with their suggestions; how many. SKIP LOCKED:
        replicas pruning at once share the rows instead of waiting on each other."""
        c = incident_observations.c
        old = (await self.session.scalars(select(c.id).where(c.opened_at < before).order_by(c.opened_at)
                                          .limit(limit).with_for_update(skip_locked=True))).all()
        if old:
            await self.session.execute(delete(link_suggestions).where(link_suggestions.c.incident_id.in_(old)))
            await self.session.execute(delete(incident_observations).where(c.id.in_(old)))
        return len(old)

    async def lock_values(self, keys: list[str]) -> None:
        """Serialise detection per (dimension, value): an alert storm's incidents spread over partitions, whose
        runs commit side by side; each waits for the one before to open (or not) the problem for a value."""
        if keys:
            await self.session.execute(text(
                "SELECT count(pg_advisory_xact_lock(hashtextextended('itsm-detect:' || k, 0))) FROM unnest(:keys) k"
            ).bindparams(_texts("keys")), {"keys": sorted(set(keys))})

    async def latest(self, keys: list[tuple[Dimension, str]]) -> dict[tuple[Dimension, str], Any]:
        """(dimension, value) -> when the newest counted incident with it was opened, this transaction's included."""
        found: dict[tuple[Dimension, str], Any] = {}
        for dimension, column in DIMENSION_COLUMNS.items():
            if values := [v for d, v in keys if d is dimension]:
                rows = await self.session.execute(text(
                    f"SELECT t.value, (SELECT max(o.opened_at) FROM incident_observations o WHERE o.{column} = t.value"
                    f" AND {COUNTED}) FROM unnest(:vals) AS t(value)").bindparams(_texts("vals")), {"vals": values})
                found.update({(dimension, r[0]): r[1] for r in rows.all()})
        return found

    async def counts(self, asked: list[tuple[str, Dimension, str, int, Any]]) -> dict[tuple[str, str], int]:
        """(rule id, dimension, value, window minutes, until) -> how many incidents counted with that value were
        opened in the window that ends at `until`; keyed (rule id, value)."""
        found: dict[tuple[str, str], int] = {}
        for dimension, column in DIMENSION_COLUMNS.items():
            mine = [a for a in asked if a[1] is dimension]
            if not mine:
                continue
            rows = await self.session.execute(text(
                f"SELECT t.rule_id, t.value, (SELECT count(*) FROM incident_observations o WHERE o.{column} = t.value"
                " AND o.opened_at > t.until - make_interval(mins => t.minutes) AND o.opened_at <= t.until"
                f" AND {COUNTED}) FROM unnest(:rule_ids, :vals, :minutes, :untils) AS t(rule_id, value, minutes, until)"
            ).bindparams(_texts("rule_ids"), _texts("vals"), bindparam("minutes", type_=ARRAY(Integer)),
                         bindparam("untils", type_=ARRAY(DateTime(timezone=True)))),
                {"rule_ids": [a[0] for a in mine], "vals": [a[2] for a in mine],
                 "minutes": [a[3] for a in mine], "untils": [a[4] for a in mine]})
            found.update({(r[0], r[1]): r[2] for r in rows.all()})
        return found

    async def unlinked_in_window(self, dimension: Dimension, asked: list[tuple[str, int, Any]]
                                 ) -> dict[str, list[str]]:
        """value -> the counted incidents with it in the window (minutes, until) that no problem links yet, oldest
        first, at most as many as a problem links."""
        if not asked:
            return {}
        column = DIMENSION_COLUMNS[dimension]
        rows = await self.session.execute(text(
            f"SELECT t.value, ARRAY(SELECT o.id FROM incident_observations o WHERE o.{column} = t.value"
            " AND o.opened_at > t.until - make_interval(mins => t.minutes) AND o.opened_at <= t.until"
            f" AND {COUNTED} AND NOT EXISTS (SELECT 1 FROM problems p WHERE p.related_incidents @> ARRAY[o.id])"
            " ORDER BY o.opened_at, o.id LIMIT :most)"
            " FROM unnest(:vals, :minutes, :untils) AS t(value, minutes, until)"
        ).bindparams(_texts("vals"), bindparam("minutes", type_=ARRAY(Integer)),
                     bindparam("untils", type_=ARRAY(DateTime(timezone=True)))),
            {"vals": [a[0] for a in asked], "minutes": [a[1] for a in asked], "untils": [a[2] for a in asked],
             "most": MAX_LINKED_INCIDENTS})
        return {r[0]: list(r[1]) for r in rows.all()}

    async def open_detections(self, keys: list[tuple[Dimension, str]]) -> dict[tuple[str, str], str]:
        """(dimension, value) -> the problem detection opened for it that still takes links."""
        if not keys:
            return {}
        rows = await self.session.execute(text(
            "SELECT p.detected_on, p.detected_value, p.id FROM problems p"
            " JOIN unnest(:dims, :vals) AS t(dim, value) ON p.detected_on = t.dim AND p.detected_value = t.value"
            f" WHERE p.{OPEN_FOR_DETECTION}"
        ).bindparams(_texts("dims"), _texts("vals")),
            {"dims": [k[0].value for k in keys], "vals": [k[1] for k in keys]})
        return {(r[0], r[1]): r[2] for r in rows.all()}

    async def linked(self, incident_ids: list[str]) -> set[str]:
        """Those of the incidents some problem links."""
        if not incident_ids:
            return set()
        rows = await self.session.scalars(text(
            "SELECT DISTINCT i FROM problems p, unnest(p.related_incidents) i"
            " WHERE p.related_incidents && CAST(:ids AS varchar[]) AND i = ANY(:ids)"
        ).bindparams(_texts("ids")), {"ids": incident_ids})
        return set(rows.all())

    async def weekly(self, cis: list[str], start: Any, end: Any) -> dict[Any, int]:
        """Week (its Monday, UTC) -> incidents opened on any of the CIs in [start, end)."""
        if not cis:
            return {}
        rows = await self.session.execute(text(
            "SELECT date_trunc('week', opened_at AT TIME ZONE 'UTC') AS week, count(*) FROM incident_observations"
            " WHERE affected_ci = ANY(:cis) AND opened_at >= :start AND opened_at < :end GROUP BY week"
        ).bindparams(_texts("cis")), {"cis": cis, "start": start, "end": end})
        return {r[0]: r[1] for r in rows.all()}


# ANY_WORD (itsm_kit.search): any shared word matches, and ts_rank's share-of-the-query scoring favours the problems
# that have more of them, in their weightier parts.
SUGGEST = (
    "SELECT t.incident_id, s.* FROM unnest(:ids, :bodies) AS t(incident_id, body)"
    f" CROSS JOIN LATERAL (SELECT {ANY_WORD.format('t.body', MAX_SEARCH_TEXT)} AS q) AS w"
    " CROSS JOIN LATERAL ("
    "   SELECT p.id AS problem_id, p.number AS problem_number, p.short_description, p.state, p.known_error_id,"
    "          p.known_error_number, p.workaround, p.version, ts_rank(ps.search, w.q) AS score"
    "   FROM problem_search ps JOIN problems p ON p.id = ps.problem_id"
    f"  WHERE ps.search @@ w.q AND p.state NOT IN {SUGGESTED_STATES}"
    "     AND (t.incident_id IS NULL OR NOT p.related_incidents @> ARRAY[t.incident_id]::varchar[])"
    "   ORDER BY score DESC, p.opened_at DESC, p.id LIMIT :top) AS s"
    " WHERE s.score >= :least ORDER BY t.incident_id, s.score DESC"
)


class Suggestions:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def rank(self, texts: list[tuple[str | None, str]], *, top: int = SUGGESTIONS_PER_INCIDENT,
                   least: float = MIN_SUGGESTION_SCORE) -> list[dict[str, Any]]:
        """The open problems whose text best matches each (incident id, text), best first: one statement for all."""
        if not texts:
            return []
        rows = await self.session.execute(text(SUGGEST).bindparams(_texts("ids"), _texts("bodies")), {
            "ids": [t[0] for t in texts], "bodies": [t[1] for t in texts], "top": top, "least": least})
        return [dict(r._mapping) for r in rows.all()]

    async def keep(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(pg_insert(link_suggestions).on_conflict_do_nothing(), rows)

    async def of_incident(self, incident_id: str) -> list[dict[str, Any]]:
        """The suggestions kept for the incident whose problems are still open, best first, as they are now."""
        p, s = problems.c, link_suggestions.c
        query = (select(s.incident_id, s.problem_id, p.number.label("problem_number"), p.short_description, p.state,
                        p.known_error_id, p.known_error_number, p.workaround, s.score)
                 .join_from(link_suggestions, problems, p.id == s.problem_id)
                 .where(s.incident_id == incident_id, p.state.not_in(["resolved", "closed", "canceled"]))
                 .order_by(s.score.desc(), s.problem_id))
        return [dict(r._mapping) for r in (await self.session.execute(query)).all()]


async def aging(session: AsyncSession, now: Any, bounds: list[tuple[str, int, int | None]]) -> list[dict[str, Any]]:
    """Per state: how many problems, how many opened within each age bucket (name, from days, to days), the
    oldest's opened_at."""
    opened = problems.c.opened_at
    buckets = []
    for name, low, high in bounds:
        condition = opened <= now - func.make_interval(0, 0, 0, low)
        if high is not None:
            condition = condition & (opened > now - func.make_interval(0, 0, 0, high))
        buckets.append(func.count().filter(condition).label(name))
    query = select(problems.c.state, func.count().label("total"), func.min(opened).label("oldest"), *buckets) \
        .group_by(problems.c.state)
    return [dict(r._mapping) for r in (await session.execute(query)).all()]


async def known_error_for_report(session: AsyncSession, known_error_id: str) -> dict[str, Any] | None:
    c = known_errors.c
    row = (await session.execute(select(c.id, c.number, c.published_at, c.affected_cis)
                                 .where(c.id == known_error_id))).first()
    return dict(row._mapping) if row else None
