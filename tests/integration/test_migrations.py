"""Each service's Alembic history builds exactly the schema its store.py declares."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from itsm_kit.db import kit_metadata, make_engine

pytestmark = pytest.mark.integration

SERVICES = ["gateway", "incidents", "changes", "problems", "cmdb", "sla", "notifications", "requests", "knowledge"]


@pytest.mark.parametrize("service", SERVICES)
async def test_migrated_database_matches_the_store(platform, service):
    settings = importlib.import_module(f"itsm_{service}.settings")
    settings_cls = next(v for k, v in vars(settings).items() if k.endswith("Settings") and k != "ServiceSettings")
    metadata = importlib.import_module(f"itsm_{service}.store").metadata
    engine = make_engine(settings_cls().database_url)  # the platform fixture set the environment
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c),
                                                                  [metadata, kit_metadata]))
    finally:
        await engine.dispose()
    assert diff == [], f"{service}: store.py and migrations disagree: {diff}"
