"""The composed screens' parts, kept between requests and dropped the moment an event says they changed.

A screen asks six services for its parts; most of them have not changed since the last agent looked. The
gateway already reads the records' events for the live stream (stream.Feed): each event drops the parts it
touches (an incident's own events and its SLA timers' drop that incident's parts; any problem or change event
drops the problem and change lists), and a write through this gateway drops them at once, so its caller reads
what they wrote. CI parts (the CMDB does not stream) and everything else are also bounded by age.

Rules that keep it honest:
- only while the feed is live (a gateway that cannot read the events cannot know what changed): else no cache;
- a fetch that raced an event touching its part is not kept (generations), so no older answer outlives an event;
- the answer as the service gave it is kept, and each caller's own rules (a requester's scope, work notes) apply
  to it afterwards, exactly as to a fresh one.
Another replica's write reaches this one's cache as its event does: within the events' delay (tens of ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass

from cachetools import TTLCache
from prometheus_client import Counter

from itsm_contracts import topics
from itsm_kit.runtime import Runtime
from itsm_gateway import stream, upstream

LOOKUPS = Counter("itsm_gateway_screen_cache_lookups_total", "Screen parts asked of the cache, by result", ["result"])

# What a part depends on: one incident (its record, timeline and SLA timers), or every problem / change /
# CI (their lists are asked by incident or CI, which an event does not always name: a link can move).
PROBLEMS, CHANGES, CMDB = "problems", "changes", "cmdb"


def incident_tag(incident_id: str) -> str:
    return f"incident:{incident_id}"


def tags_changed_by(topic: str, record_id: str, incident_id: str | None) -> tuple[str, ...]:
    """The parts an event on `topic` about `record_id` may have changed."""
    if topic == topics.INCIDENTS:
        return (incident_tag(record_id),)
    if topic == topics.SLA:
        return (incident_tag(incident_id),) if incident_id else ()
    return {topics.PROBLEMS: (PROBLEMS,), topics.CHANGES: (CHANGES,)}.get(topic, ())


def tags_changed_by_write(service: str, path: str) -> tuple[str, ...]:
    """The parts a write through this gateway (to `service`'s `path`) may have changed."""
    if service == "incidents":
        parts = path.strip("/").split("/")
        return (incident_tag(parts[1]),) if len(parts) > 1 and parts[0] == "incidents" else ()
    return {"problems": (PROBLEMS,), "changes": (CHANGES,), "cmdb": (CMDB,)}.get(service, ())


@dataclass
class _Entry:
    content: bytes
    tags: tuple[str, ...]


@dataclass
class _Flight:
    future: asyncio.Future
    tags: tuple[str, ...]


class PartCache:
    """Upstream answers (bytes) by request, each under the tags of what it shows; `ttl` 0 turns it off."""

    def __init__(self, *, ttl: float, size: int, live: Callable[[], bool]):
        self.ttl, self.size, self.live = ttl, size, live
        self._entries: TTLCache[Hashable, _Entry] | None = TTLCache(size, ttl) if ttl > 0 else None
        # Bumped by each change: a fetch that saw another generation started before it, and is not kept.
        self._epoch = 0
        self._generations: dict[str, int] = {}
        self._by_tag: dict[str, set[Hashable]] = {}
        self._flights: dict[Hashable, _Flight] = {}

    async def get(self, key: Hashable, tags: tuple[str, ...], fetch: Callable[[], Awaitable[bytes]]) -> bytes:
        if self._entries is None or not self.live():
            if self._by_tag:  # events were missed, or will be: nothing kept can be vouched for
                self.clear()
            LOOKUPS.labels("bypass").inc()
            return await fetch()
        entry = self._entries.get(key)
        if entry is not None:
            LOOKUPS.labels("hit").inc()
            return entry.content
        # Screens asking for the same part at once share one fetch: an expiry is one call upstream, not a burst.
        flight = self._flights.get(key)
        if flight is None:
            LOOKUPS.labels("miss").inc()
            flight = asyncio.ensure_future(fetch())
            self._flights[key] = _Flight(flight, tags)
            flight.add_done_callback(functools.partial(self._landed, key, tags, self._generation(tags)))
        else:
            LOOKUPS.labels("shared").inc()
            flight = flight.future
        return await asyncio.shield(flight)  # one screen giving up does not cancel the others' fetch

    def _landed(self, key: Hashable, tags: tuple[str, ...], seen: tuple[int, ...], flight: asyncio.Future) -> None:
        if key in self._flights and self._flights[key].future is flight:
            del self._flights[key]
        if flight.cancelled() or flight.exception() is not None:
            return
        if self._entries is not None and self._generation(tags) == seen and self.live():
            self._entries[key] = _Entry(flight.result(), tags)
            for tag in tags:
                self._by_tag.setdefault(tag, set()).add(key)

    def changed(self, tags: tuple[str, ...]) -> None:
        """Something the tags cover changed: their parts are fetched afresh, and fetches under way not kept."""
        if self._entries is None or not tags:
            return
        for tag in tags:
            self._generations[tag] = self._generations.get(tag, 0) + 1
            for key in self._by_tag.pop(tag, ()):
                self._entries.pop(key, None)
        for key in [key for key, flight in self._flights.items() if set(flight.tags) & set(tags)]:
            del self._flights[key]  # later screens fetch anew: this one may have read before the change
        # Tags of records long gone (expired entries leave theirs): past a bound, start counting anew.
        if len(self._generations) + len(self._by_tag) > 4 * self.size:
            self.clear()

    def clear(self) -> None:
        if self._entries is not None:
            self._entries.clear()
        self._epoch += 1
        self._generations, self._by_tag, self._flights = {}, {}, {}

    def _generation(self, tags: tuple[str, ...]) -> tuple[int, ...]:
        return (self._epoch, *(self._generations.get(tag, 0) for tag in tags))


CACHE = "screen_parts"


@contextlib.asynccontextmanager
async def parts(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook (after the live feed's): the cache, told of every event the feed reads and of every write
    this gateway sends."""
    feed: stream.Feed = runtime.extras[stream.FEED]
    settings = runtime.settings
    cache = PartCache(ttl=settings.screen_cache_seconds, size=settings.screen_cache_size, live=lambda: feed.ready)
    feed.listeners.append(lambda change: cache.changed(tags_changed_by(change.topic, change.record_id,
                                                                       change.incident_id)))
    runtime.extras.setdefault(upstream.WRITES, []).append(
        lambda service, path: cache.changed(tags_changed_by_write(service, path)))
    runtime.extras[CACHE] = cache
    yield
