"""The gateway database: monitoring integrations, their (hashed) keys and their policies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

metadata = MetaData()

integrations = Table(
    "integrations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 of the key; the key itself is never stored
    Column("key_prefix", String(12), nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    # The domain's IntegrationPolicy as JSON; checked by the domain model on the way in and out.
    Column("policy", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("version", Integer, nullable=False, server_default=text("1")),  # the ETag; If-Match on changes
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(120)),
)


class IntegrationRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, **values) -> dict:
        row = (await self.session.execute(integrations.insert().values(**values).returning(integrations))).one()
        return dict(row._mapping)

    async def get(self, integration_id: str, *, for_update: bool = False) -> dict | None:
        query = select(integrations).where(integrations.c.id == integration_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        return dict(row._mapping) if row else None

    async def change(self, integration_id: str, **values) -> dict:
        """Writes `values` and moves the version on by one."""
        row = (await self.session.execute(
            update(integrations).where(integrations.c.id == integration_id)
            .values(version=integrations.c.version + 1, **values).returning(integrations)
        )).one()
        return dict(row._mapping)

    async def by_key_hash(self, key_hash: str) -> dict | None:
        row = (await self.session.execute(
            select(integrations).where(integrations.c.key_hash == key_hash, integrations.c.revoked_at.is_(None))
        )).first()
        return dict(row._mapping) if row else None

    async def all(self) -> list[dict]:
        rows = (await self.session.execute(select(integrations).order_by(integrations.c.created_at))).all()
        return [dict(r._mapping) for r in rows]

    async def revoke(self, integration_id: str, at: datetime) -> bool:
        result = await self.session.execute(
            update(integrations).where(integrations.c.id == integration_id, integrations.c.revoked_at.is_(None))
            .values(revoked_at=at, version=integrations.c.version + 1)
        )
        return result.rowcount == 1
