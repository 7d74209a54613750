"""The screen cache's rules, without I/O: kept until an event or a write says the part changed, never kept
from a fetch that raced such an event, never used while the live feed (its source of events) is down."""

from __future__ import annotations

import asyncio

from itsm_contracts import topics
from itsm_gateway.screen_cache import (
    CHANGES, CMDB, PROBLEMS, PartCache, incident_tag, tags_changed_by, tags_changed_by_write,
)


class Upstream:
    def __init__(self):
        self.calls, self.value = 0, b"v1"

    async def fetch(self) -> bytes:
        self.calls += 1
        return self.value


def cache(live: bool = True, ttl: float = 60) -> PartCache:
    state = {"live": live}
    made = PartCache(ttl=ttl, size=100, live=lambda: state["live"])
    made.state = state
    return made


async def test_a_part_is_fetched_once_then_kept():
    parts, upstream = cache(), Upstream()
    assert await parts.get("k", ("incident:1",), upstream.fetch) == b"v1"
    assert await parts.get("k", ("incident:1",), upstream.fetch) == b"v1"
    assert upstream.calls == 1


async def test_screens_asking_at_once_share_one_fetch():
    parts, upstream = cache(), Upstream()
    answers = await asyncio.gather(*(parts.get("k", ("incident:1",), upstream.fetch) for _ in range(10)))
    assert answers == [b"v1"] * 10 and upstream.calls == 1


async def test_an_event_on_what_a_part_shows_drops_it_and_no_other():
    parts, one, other = cache(), Upstream(), Upstream()
    await parts.get("one", ("incident:1",), one.fetch)
    await parts.get("other", ("incident:2",), other.fetch)
    one.value = b"v2"
    parts.changed(tags_changed_by(topics.INCIDENTS, "1", None))
    assert await parts.get("one", ("incident:1",), one.fetch) == b"v2"
    await parts.get("other", ("incident:2",), other.fetch)
    assert (one.calls, other.calls) == (2, 1)


async def test_a_fetch_that_raced_an_event_is_not_kept():
    parts, upstream = cache(), Upstream()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> bytes:
        read = await upstream.fetch()  # what the service read before the change committed
        started.set()
        await release.wait()
        return read

    fetching = asyncio.create_task(parts.get("k", ("incident:1",), slow))
    await started.wait()
    parts.changed(("incident:1",))
    upstream.value = b"v2"
    # A screen asking after the change does not wait on the fetch that began before it.
    assert await parts.get("k", ("incident:1",), upstream.fetch) == b"v2"
    release.set()
    assert await fetching == b"v1"  # its own screen began before the change: it gets what was read then
    upstream.value = b"v3"
    assert await parts.get("k", ("incident:1",), upstream.fetch) == b"v2"  # kept: the fresh answer, not the late one
    assert upstream.calls == 2


async def test_nothing_is_kept_or_served_while_the_feed_is_down():
    parts, upstream = cache(), Upstream()
    await parts.get("k", ("incident:1",), upstream.fetch)
    parts.state["live"] = False  # events missed now are never heard of
    upstream.value = b"v2"
    assert await parts.get("k", ("incident:1",), upstream.fetch) == b"v2"
    parts.state["live"] = True
    assert await parts.get("k", ("incident:1",), upstream.fetch) == b"v2"
    assert upstream.calls == 3


async def test_a_zero_age_turns_the_cache_off():
    parts, upstream = cache(ttl=0), Upstream()
    for _ in range(3):
        await parts.get("k", ("incident:1",), upstream.fetch)
    assert upstream.calls == 3


async def test_its_bookkeeping_stays_bounded_by_its_size():
    parts = cache()
    for n in range(1000):
        parts.changed((f"incident:{n}",))
    assert len(parts._generations) <= 4 * parts.size


def test_which_parts_an_event_or_a_write_touches():
    assert tags_changed_by(topics.INCIDENTS, "i1", "i1") == (incident_tag("i1"),)
    assert tags_changed_by(topics.SLA, "timer-9", "i1") == (incident_tag("i1"),)
    assert tags_changed_by(topics.PROBLEMS, "p1", None) == (PROBLEMS,)
    assert tags_changed_by(topics.CHANGES, "c1", None) == (CHANGES,)
    assert tags_changed_by(topics.ALERTS, "a", None) == ()
    assert tags_changed_by_write("incidents", "/incidents/i1/comments") == (incident_tag("i1"),)
    assert tags_changed_by_write("incidents", "/priority-matrix") == ()
    assert tags_changed_by_write("cmdb", "/imports") == (CMDB,)
