"""Async engine and sessions, plus the two tables every service's database has.

`outbox` holds events committed with the state change that raised them until the relay
has published them (a row Kafka keeps refusing is set aside, see outbox.py); `inbox`
records each consumed event id in the same transaction as its effects, so a redelivered
event changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import exc as sa_exc
from sqlalchemy import (
    ARRAY, JSON, BigInteger, Column, ColumnElement, DateTime, Index, Integer, LargeBinary, MetaData, Select, String,
    Table, Text, bindparam, func, insert, or_, select, text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

kit_metadata = MetaData()

outbox = Table(
    "outbox",
    kit_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),  # publication order
    Column("event_id", String(64), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    # Kit schema v2: publications Kafka refused, the last refusal, and when the row was set aside.
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("set_aside_at", DateTime(timezone=True)),
    Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
)

inbox = Table(
    "inbox",
    kit_metadata,
    Column("event_id", String(64), primary_key=True),
    Column("topic", String(200), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("outcome", String(20), nullable=False),  # handled | dead_lettered
    Column("error", Text),
    Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def create_kit_tables_v1(op) -> None:
    """Outbox and inbox as of kit schema v1, for a service's first Alembic revision.

    Written out (not `create_all`) so that a later kit change arrives as a new revision.
    """
    op.create_table(
        "outbox",
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
    )
    op.create_index("outbox_unpublished", "outbox", ["id"], postgresql_where=text("published_at IS NULL"))
    op.create_table(
        "inbox",
        Column("event_id", String(64), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("outcome", String(20), nullable=False),
        Column("error", Text),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def drop_kit_tables_v1(op) -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")


def add_kit_outbox_failures_v2(op) -> None:
    """Kit schema v2, a revision of its own in every service: the outbox counts the publications
    Kafka refused per row and sets a row aside after too many, so it no longer holds up the rest.

    Nullable or defaulted columns only: relays of the previous version run on during a rollout."""
    op.add_column("outbox", Column("attempts", Integer, nullable=False, server_default=text("0")))
    op.add_column("outbox", Column("last_error", Text))
    op.add_column("outbox", Column("set_aside_at", DateTime(timezone=True)))


def drop_kit_outbox_failures_v2(op) -> None:
    for column in ("set_aside_at", "last_error", "attempts"):
        op.drop_column("outbox", column)


# Rows at once from which COPY costs PostgreSQL less than an INSERT a row: 115 against 132 us a row at 3, 80 against
# 120 at 10, 55 against 90 at 200 (an incident's row, with its indexes and vocabulary trigger). Webhooks of a few
# alerts make runs of tens of rows.
COPY_FROM = 5


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows by the cheaper path for their number: COPY for many, an INSERT for a few. JSON columns' values are
    given as they are (lists, dicts) either way."""
    if len(rows) >= COPY_FROM:
        # COPY knows only the server's defaults. Of SQLAlchemy's own, which an INSERT would fill, it is given the
        # values (a function's would need SQLAlchemy's execution context: those rows go by INSERT).
        left_out = [c for c in table.columns if c.default is not None and c.name not in rows[0]]
        if all(c.default.is_scalar for c in left_out):
            if json_columns := [name for name in rows[0] if isinstance(table.c[name].type, JSON)]:
                rows = [{**row, **{name: json_text(row[name]) for name in json_columns}} for row in rows]
            if defaults := {c.name: c.default.arg for c in left_out}:
                rows = [{**defaults, **row} for row in rows]
            await copy_rows(session, table, rows)
            return
    if rows:
        await session.execute(insert(table), rows)


async def copy_rows(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows with COPY, PostgreSQL's fastest bulk path, in the session's transaction.

    Values go as the driver's binary COPY takes them: JSON and JSONB columns as JSON text,
    bytea as bytes, timestamps as aware datetimes. Columns left out take their defaults.
    """
    if not rows:
        return
    columns = list(rows[0])
    record = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    try:
        await driver.copy_records_to_table(table.name, schema_name=table.schema, columns=columns,
                                           records=[record(row) for row in rows])
    except Exception as exc:
        raise driver_error(exc, f"COPY {table.name}") from exc


def driver_error(exc: Exception, statement: str) -> Exception:
    """A driver error as SQLAlchemy would have raised it, so callers (the consumer's outage
    test above all) see a broken connection or a violated constraint the same either way."""
    import asyncpg

    if isinstance(exc, sa_exc.SQLAlchemyError):
        return exc
    if isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError):
        return sa_exc.IntegrityError(statement, None, exc)
    if isinstance(exc, (asyncpg.exceptions.InterfaceError, OSError, ConnectionError)):
        return sa_exc.InterfaceError(statement, None, exc, connection_invalidated=True)
    if isinstance(exc, (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)):
        return sa_exc.OperationalError(statement, None, exc, connection_invalidated=True)
    if isinstance(exc, asyncpg.exceptions.PostgresError):
        return sa_exc.DBAPIError(statement, None, exc)
    return exc


def json_text(value: Any) -> str:
    # As json.dumps would write it (keys that are numbers as strings), several times faster: SLA timers, record
    # copies and timelines keep JSON columns that every run of events writes.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                               json_serializer=json_text, json_deserializer=orjson.loads)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def among(column: ColumnElement, name: str, values: Sequence[Any] | None = None) -> ColumnElement[bool]:
    """`column` is one of an array parameter's values (`name`; given now or at execution), as a join with the array
    unnested, not `= ANY(array)`.

    Why: PostgreSQL keeps a prepared statement's generic plan once it has one, until the table is analysed again. A
    plan made while the table was small (a fresh database, or an outbox just cleaned) is a sequential scan testing each
    row against the array, element by element: when a storm has grown the table to thousands of rows before autovacuum
    analyses it, every lookup of a few hundred ids costs tens of milliseconds. The join's plan hashes the ids, so it
    stays cheap at any size."""
    given = {} if values is None else {"value": list(values)}
    array = bindparam(name, type_=ARRAY(column.type), **given)
    return column.in_(select(func.unnest(array, type_=column.type)).scalar_subquery())


def insert_arrays(table: Table, columns: Sequence[str]) -> Insert:
    """INSERT of a run's rows given as one array a column (`arrays`): `INSERT ... SELECT * FROM unnest(...)`, one
    statement (and one prepared plan) whatever the run's length. Chain `on_conflict_...` as on any PostgreSQL insert
    (with DO UPDATE, one row a key: PostgreSQL updates a row once a statement).

    Why: an executemany INSERT is one execution in PostgreSQL a row. The read models an alert storm fills (a row an
    incident in problems, requests and notifications) cost 12–21 µs of it a row that way, 8,000 rows each."""
    dialect = postgresql.dialect()
    # Arrays of the unbounded type: a cast to varchar(n) would cut a longer value where the INSERT refuses it.
    types = {name: re.sub(r"\(\d+\)", "", table.c[name].type.compile(dialect=dialect)) for name in columns}
    given = ", ".join(f"CAST(:{name} AS {types[name]}[])" for name in columns)
    rows = text(f"SELECT * FROM unnest({given})").columns(*(table.c[name] for name in columns))
    return pg_insert(table).from_select(list(columns), rows)


def arrays(table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """`insert_arrays`' parameters: each column's values in the rows' order (JSON columns' as JSON text)."""
    return {name: [json_text(row[name]) for row in rows] if isinstance(table.c[name].type, JSON)
            else [row[name] for row in rows] for name in columns}


class _RunWrite:
    """A run's rows written by one statement built once on `insert_arrays`, so that its compiled form is cached (a
    multi-row VALUES has no cache key: compiled again for every run, it took 12 % of the requests service's CPU in the
    ingest bench)."""

    def __init__(self, table: Table, columns: Sequence[str], statement: Insert):
        self.table, self.columns, self.statement = table, tuple(columns), statement

    async def __call__(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await session.execute(self.statement, arrays(self.table, self.columns, rows))


class InsertNew(_RunWrite):
    """A run's rows, inserted; a row whose key is kept already (`key`: its columns, None: any unique one) stays as it
    is: a replay changes nothing."""

    def __init__(self, table: Table, columns: Sequence[str], key: Sequence[str] | None = None):
        super().__init__(table, columns, insert_arrays(table, columns).on_conflict_do_nothing(index_elements=key))


class UpsertNewer(_RunWrite):
    """A read model's rows (one a key), inserted or, where the row kept is older by its `sequence` column (the
    source's event sequence), replacing its fields."""

    def __init__(self, table: Table, key: Sequence[str], fields: Sequence[str]):
        columns = (*key, *fields)
        statement = insert_arrays(table, columns)
        super().__init__(table, columns, statement.on_conflict_do_update(
            index_elements=[table.c[k] for k in key], set_={c: statement.excluded[c] for c in fields},
            where=table.c.sequence < statement.excluded.sequence))


def stored(table: Table) -> Select:
    """SELECT of a table's stored columns: not the generated ones (a search vector is the database's to read, and
    reading it with every record would carry it, sizeable, to the service for nothing)."""
    return select(*(column for column in table.c if column.computed is None))


def matching(text: str, *columns: ColumnElement) -> ColumnElement[bool]:
    """Any of these columns contains `text`, case aside; its % and _ are taken literally, not as wildcards."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(*(column.ilike(pattern) for column in columns))
