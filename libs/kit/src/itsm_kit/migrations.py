"""Alembic, the same way for every service: one history per service database.

A service's migrations/env.py is two lines: it calls `run_env(metadata, Settings)`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from itsm_kit.db import kit_metadata
from itsm_kit.settings import ServiceSettings


def alembic_config(migrations_dir: Path, settings: ServiceSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("version_locations", str(migrations_dir / "versions"))
    config.attributes["database_url"] = settings.database_url
    return config


def upgrade(migrations_dir: Path, settings: ServiceSettings, revision: str = "head") -> None:
    command.upgrade(alembic_config(migrations_dir, settings), revision)


def run_env(metadata: MetaData, settings_cls: type[ServiceSettings]) -> None:
    url = context.config.attributes.get("database_url") or settings_cls().database_url
    metadata = [metadata, kit_metadata]  # what autogenerate compares the database with

    def migrate(connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(online())
