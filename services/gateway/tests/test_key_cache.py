"""The integration key cache: revocations and policy changes within its TTL, unknown keys remembered,
one query for many requests, bounded memory, and a PostgreSQL outage ridden out; no server."""

import asyncio

import pytest

from itsm_kit.errors import Problem
from itsm_gateway.keys import IntegrationKeys


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Database:
    """The key lookup, answering from `rows` (key hash -> integration), counting queries."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.queries = 0
        self.down: BaseException | None = None
        self.hang = False

    async def lookup(self, key_hash: str) -> dict | None:
        self.queries += 1
        await asyncio.sleep(0)
        if self.hang:
            await asyncio.sleep(3600)
        if self.down is not None:
            raise self.down
        return self.rows.get(key_hash)


def cache(db: Database, clock: Clock, **overrides) -> IntegrationKeys:
    settings = {"ttl": 5.0, "negative_ttl": 30.0, "outage_grace": 600.0, "timeout": 0.2, "size": 100} | overrides
    return IntegrationKeys(db.lookup, clock=clock, **settings)


def integration(version: int = 1) -> dict:
    return {"id": "int-1", "kind": "alertmanager", "version": version}


async def test_a_revoked_key_stops_working_within_the_ttl():
    db, clock = Database(), Clock()
    keys = cache(db, clock)
    db.rows["k1"] = integration()
    assert await keys.integration("k1") == integration()
    del db.rows["k1"]  # revoked on another replica
    clock.now += 4.9
    assert await keys.integration("k1") == integration() and db.queries == 1  # served from the cache
    clock.now += 0.2
    assert await keys.integration("k1") is None and db.queries == 2


async def test_a_changed_policy_applies_within_the_ttl():
    db, clock = Database(), Clock()
    keys = cache(db, clock)
    db.rows["k1"] = integration(1)
    assert (await keys.integration("k1"))["version"] == 1
    db.rows["k1"] = integration(2)
    clock.now += 5.01
    assert (await keys.integration("k1"))["version"] == 2


async def test_forget_applies_a_change_made_here_at_once():
    db, clock = Database(), Clock()
    keys = cache(db, clock)
    db.rows["k1"] = integration()
    await keys.integration("k1")
    del db.rows["k1"]
    keys.forget("int-1")
    assert await keys.integration("k1") is None


async def test_an_unknown_key_is_remembered_for_the_negative_ttl():
    db, clock = Database(), Clock()
    keys = cache(db, clock)
    for _ in range(50):
        assert await keys.integration("bogus") is None
    assert db.queries == 1
    clock.now += 30.1
    assert await keys.integration("bogus") is None and db.queries == 2


async def test_many_requests_for_an_expired_key_make_one_query():
    db, clock = Database(), Clock()
    keys = cache(db, clock)
    db.rows["k1"] = integration()
    answers = await asyncio.gather(*(keys.integration("k1") for _ in range(200)))
    assert answers == [integration()] * 200 and db.queries == 1


async def test_memory_is_bounded_and_bogus_keys_cannot_push_known_ones_out():
    db, clock = Database(), Clock()
    keys = cache(db, clock, size=10)
    db.rows["k1"] = integration()
    await keys.integration("k1")
    for n in range(1000):
        await keys.integration(f"bogus-{n}")
    assert len(keys._unknown) == 10 and len(keys._known) == 1 and keys.vouched("k1")
    assert await keys.integration("k1") == integration() and db.queries == 1001
    for n in range(50):
        db.rows[f"real-{n}"] = integration() | {"id": f"int-{n}"}
        await keys.integration(f"real-{n}")
    assert len(keys._known) == 10 and not keys._asking


@pytest.mark.parametrize("outage", [ConnectionRefusedError(111, "Connect call failed"), "hang"])
async def test_during_an_outage_confirmed_keys_work_unknown_ones_are_503_and_revoked_ones_401(outage):
    db, clock = Database(), Clock()
    keys = cache(db, clock)
    db.rows["k1"] = integration()
    await keys.integration("k1")
    await keys.integration("revoked")
    if outage == "hang":
        db.hang = True
    else:
        db.down = outage
    clock.now += 60  # every entry expired: each must be asked about again
    assert await asyncio.wait_for(keys.integration("k1"), 1) == integration()  # within the lookup timeout
    queries = db.queries
    clock.now += 1
    assert await keys.integration("k1") == integration() and db.queries == queries  # not asked on every request
    assert await asyncio.wait_for(keys.integration("revoked"), 1) is None
    with pytest.raises(Problem) as unknown:
        await asyncio.wait_for(keys.integration("never-seen"), 1)
    assert unknown.value.status == 503 and unknown.value.headers["Retry-After"] == "5"
    assert "PostgreSQL unavailable" in unknown.value.detail
    for question in keys._asking.values():  # the hung ones
        question.cancel()


async def test_a_key_unconfirmed_for_longer_than_the_outage_grace_is_refused_with_503():
    db, clock = Database(), Clock()
    keys = cache(db, clock, outage_grace=120)
    db.rows["k1"] = integration()
    await keys.integration("k1")
    db.down = ConnectionRefusedError(111, "Connect call failed")
    clock.now += 100
    assert await keys.integration("k1") == integration()
    clock.now += 30
    with pytest.raises(Problem) as refused:
        await keys.integration("k1")
    assert refused.value.status == 503


async def test_once_postgresql_is_back_a_revocation_made_meanwhile_applies_within_the_ttl():
    db, clock = Database(), Clock()
    keys = cache(db, clock)
    db.rows["k1"] = integration()
    await keys.integration("k1")
    db.down = ConnectionRefusedError(111, "Connect call failed")
    clock.now += 10
    assert await keys.integration("k1") == integration()
    db.down = None
    del db.rows["k1"]
    clock.now += 5.01
    assert await keys.integration("k1") is None


async def test_a_failing_query_that_is_no_outage_is_not_hidden():
    db, clock = Database(), Clock()
    keys = cache(db, clock)
    db.down = ValueError("a bug")
    with pytest.raises(ValueError):
        await keys.integration("k1")
