"""The kit's copy of the CMDB (itsm_kit.cmdb_copy) against a real database: the business services of several
CIs at once, and the migration helper a service uses to create the tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import MetaData, text

from itsm_contracts import envelope
from itsm_contracts.events.cmdb import CiCreated, CiRelationshipAdded
from itsm_kit.cmdb_copy import CiRepository, cmdb_copy_tables, cmdb_handlers, create_cmdb_copy_tables
from itsm_kit.db import make_engine, make_sessionmaker
from itsm_kit.outbox import Outbox
from itsm_kit.runtime import Runtime

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
HANDLERS = cmdb_handlers(Runtime(None, None, None, None, Outbox("itsm/test")))  # only its outbox is used


@pytest.fixture
async def engine(platform):
    from itsm_incidents.settings import IncidentsSettings

    engine = make_engine(IncidentsSettings().database_url)  # a database with the copy's tables (incidents')
    yield engine
    await engine.dispose()


async def test_business_services_of_several_cis_are_their_union_each_once(engine):
    shop, billing, retired, app, db, host, lone = (str(uuid.uuid4()) for _ in range(7))
    cis = [(shop, f"Shop {shop[:6]}", "business_service", 1),
           (billing, f"Billing {billing[:6]}", "business_service", 2), (app, "app", "application", 3),
           (db, "db", "database", 3), (host, "host", "host", 3), (lone, "lone", "host", 3),
           (retired, "old", "business_service", 1)]
    # shop -> app -> host, billing -> db -> host, shop -> db: host is under both services, twice under shop.
    edges = [(shop, app), (app, host), (billing, db), (db, host), (shop, db), (retired, host)]
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await HANDLERS[CiCreated.type].many(session, [
            (envelope(d, source="itsm/cmdb", subject=d.ci_id, sequence=1), d)
            for d in (CiCreated(ci_id=i, name=n, ci_class=c, criticality=k, created_at=T0) for i, n, c, k in cis)])
        await HANDLERS[CiRelationshipAdded.type].many(session, [
            (envelope(d, source="itsm/cmdb", subject=d.relationship_id, sequence=1), d)
            for d in (CiRelationshipAdded(relationship_id=str(uuid.uuid4()), source_id=s, target_id=t,
                                          relationship_type="depends_on", added_at=T0) for s, t in edges)])
        await session.execute(text("UPDATE cmdb_cis SET operational_status = 'retired' WHERE id = :id"),
                              {"id": retired})
    async with sessions() as session:
        view = CiRepository(session)
        assert [s["id"] for s in await view.business_services_of([host, app, lone, host])] == [shop, billing]
        assert [s["id"] for s in await view.business_services_of([app])] == [shop]
        assert [s["id"] for s in await view.business_services_of([shop, lone])] == [shop]  # a service is its own
        assert await view.business_services_of([lone]) == [] and await view.business_services_of([]) == []
        assert await view.business_services(host) == await view.business_services_of([host])


async def test_the_migration_helper_builds_the_tables_the_kit_declares(engine):
    """What a service's migration creates with create_cmdb_copy_tables is what cmdb_copy_tables declares, so its
    migrated database matches its store (as tests/integration/test_migrations.py checks for each service)."""
    schema = f"cmdb_copy_{uuid.uuid4().hex[:8]}"
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
            await conn.execute(text(f"SET LOCAL search_path TO {schema}"))

            def migrate_and_compare(sync) -> list:
                create_cmdb_copy_tables(Operations(MigrationContext.configure(sync)))
                metadata = MetaData()
                cmdb_copy_tables(metadata)
                return compare_metadata(MigrationContext.configure(sync), metadata)

            assert await conn.run_sync(migrate_and_compare) == []
            names = await conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = :s ORDER BY 1"),
                                       {"s": schema})
            assert [n for (n,) in names if not n.endswith("_pkey")] == ["cmdb_cis_by_name",
                                                                        "cmdb_relationships_live_by_target"]
        finally:
            await transaction.rollback()
