"""The cmdb database: tables and the repository that maps them to ConfigurationItem."""

from __future__ import annotations

import dataclasses

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_cmdb.domain import CiClass, ConfigurationItem, OperationalStatus
from itsm_kit.pagination import newest_first, page_of

metadata = MetaData()

cis = Table(
    "cis",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("ci_class", String(40), nullable=False),
    Column("criticality", Integer, nullable=False),
    Column("operational_status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Index("cis_by_created", "created_at", "id"),
)
# One CI per class and name, ignoring case: the database holds the line even when two
# registrations of the same CI race (two discovery runs, say).
IDENTITY = (cis.c.ci_class, func.lower(cis.c.name))
Index("cis_one_per_class_and_name", *IDENTITY, unique=True)

_FIELDS = [f.name for f in dataclasses.fields(ConfigurationItem) if f.name != "events"]


def _to_ci(row) -> ConfigurationItem:
    values = {name: row._mapping[name] for name in _FIELDS}
    return ConfigurationItem(**values | {"ci_class": CiClass(values["ci_class"]),
                                         "operational_status": OperationalStatus(values["operational_status"])})


class CiRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get(self, ci_id: str) -> ConfigurationItem | None:
        row = (await self.session.execute(select(cis).where(cis.c.id == ci_id))).first()
        return _to_ci(row) if row else None

    async def find(self, ci_class: CiClass, name: str) -> ConfigurationItem | None:
        """The CI of this class with this name, ignoring case."""
        query = select(cis).where(cis.c.ci_class == ci_class, func.lower(cis.c.name) == func.lower(name))
        row = (await self.session.execute(query)).first()
        return _to_ci(row) if row else None

    async def add(self, ci: ConfigurationItem) -> bool:
        """Insert the CI; False, and nothing written, when its class already has a CI of that name."""
        inserted = await self.session.execute(
            pg_insert(cis).values({name: getattr(ci, name) for name in _FIELDS})
            .on_conflict_do_nothing(index_elements=IDENTITY).returning(cis.c.id)
        )
        return inserted.first() is not None

    async def page(self, *, limit: int, cursor: str | None = None,
                   classes: list[str] | None = None) -> tuple[list[ConfigurationItem], str | None]:
        """Newest first; returns the page and the next page's cursor."""
        query = newest_first(select(cis), cis.c.created_at, cis.c.id, limit=limit, cursor=cursor)
        if classes:
            query = query.where(cis.c.ci_class.in_(classes))
        found = [_to_ci(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda ci: (ci.created_at, ci.id))
