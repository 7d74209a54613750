"""The missing-CI sweep against a real cmdb database of its own (no service sweeps it meanwhile).

An import that reports a CI again while the sweep is deciding wins: the sweep found the CI
missing before the import committed, waits on the exclusive write lock for the import, and
then sees the new sighting and leaves the CI alone. A CI still missing retires, once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from itsm_contracts.api.cmdb import ImportRequest
from itsm_kit.clock import utcnow
from itsm_kit.db import make_engine, make_sessionmaker
from itsm_kit.outbox import Outbox
from itsm_kit.unit_of_work import UnitOfWork
from itsm_cmdb import handlers
from itsm_cmdb.store import CiRepository
from tests.helpers import fresh_database

pytestmark = pytest.mark.integration

SOURCE = "k8s"


def report(*names: str) -> ImportRequest:
    return ImportRequest.model_validate({"source": SOURCE, "items": [
        {"ref": n, "ci_class": "container_workload", "name": n, "criticality": 2,
         "attributes": {"cluster": "prod", "namespace": "shop"}} for n in names]})


@pytest.fixture
async def sessions(infra):
    url = await fresh_database("itsm_cmdb_sweep")
    subprocess.run([sys.executable, "-m", "itsm_cmdb", "migrate"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "ITSM_CMDB_DATABASE_URL": url})
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def test_an_import_in_flight_keeps_its_ci_from_the_sweep_and_the_others_retire(sessions):
    outbox = Outbox("itsm/cmdb")
    uow = UnitOfWork(sessions, outbox)
    await handlers.put_source(uow, SOURCE, priority=10, field_priorities={}, description=None,
                              retire_missing_after=timedelta(milliseconds=500), actor="test")
    first = await handlers.import_batch(uow, report("cart", "search"))
    ids = {item["ref"]: item["ci_id"] for item in first["items"]}
    await asyncio.sleep(0.6)  # both missing now

    async with sessions() as importing, importing.begin():
        # Joining this transaction, the import stays in flight (holding the shared write lock) until the block ends.
        await handlers.import_batch(UnitOfWork(None, outbox, session=importing), report("search"))

        async def sweep() -> int:
            return await handlers.retire_missing(UnitOfWork(sessions, outbox), at=utcnow(), limit=100)

        sweeping = asyncio.create_task(sweep())
        await asyncio.sleep(0.5)
        assert not sweeping.done(), "the sweep waits for the import in flight"
    assert await sweeping == 1  # the import committed: search was seen again, cart was not

    async with sessions() as session:
        found = await CiRepository(session).get_many(ids.values())
    assert {ref: found[ci_id].operational_status.value for ref, ci_id in ids.items()} == {
        "cart": "retired", "search": "operational"}
    # Later search is missed too and retires; cart, retired already, is not judged again.
    later = utcnow() + timedelta(seconds=5)
    assert await handlers.retire_missing(uow, at=later, limit=100) == 1
    assert await handlers.retire_missing(uow, at=later, limit=100) == 0
