"""Integration keys as PostgreSQL last confirmed them: a webhook costs no query, and rides out an outage.

A known key is asked about again `ttl` seconds after PostgreSQL confirmed it, so a revocation or
a policy change made on any replica applies here within `ttl` (at once when made through this
gateway: see `forget`). An unknown or revoked key is remembered as such (keys are random and a
revoked one never comes back), and asked about again after `negative_ttl`. Requests for a key
being asked about wait for that one query.

While PostgreSQL cannot answer, a key it confirmed keeps working for `outage_grace` seconds after
the last confirmation: refusing alerts helps nobody, and no revocation can be committed while the
database is down. A key it never confirmed is a 503: the sender retries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from cachetools import LRUCache

from itsm_kit.errors import unavailable
from itsm_kit.outages import database_unavailable

log = logging.getLogger(__name__)

Lookup = Callable[[str], Awaitable[dict | None]]


@dataclass
class _Known:
    integration: dict
    fresh_until: float   # used without asking until then
    confirmed_at: float  # when PostgreSQL last said so


class IntegrationKeys:
    def __init__(self, lookup: Lookup, *, ttl: float, negative_ttl: float, outage_grace: float, timeout: float,
                 size: int, clock: Callable[[], float] = time.monotonic):
        self._lookup, self.clock = lookup, clock
        self.ttl, self.negative_ttl, self.outage_grace, self.timeout = ttl, negative_ttl, outage_grace, timeout
        # Apart, so that a flood of bogus keys cannot push the real ones out.
        self._known: LRUCache[str, _Known] = LRUCache(maxsize=size)
        self._unknown: LRUCache[str, float] = LRUCache(maxsize=size)  # key hash -> asked again after
        self._asking: dict[str, asyncio.Task] = {}
        self._generation = 0  # moved on by forget: answers to questions asked before are not kept
        self._outage = False  # logged once as it begins and once as it ends, not on every key

    def vouched(self, key_hash: str) -> bool:
        """Whether PostgreSQL once confirmed this key (it may have been revoked since)."""
        return key_hash in self._known

    async def integration(self, key_hash: str) -> dict | None:
        """The active integration of a key, None for an unknown or revoked one; a 503 if that cannot be told."""
        now = self.clock()
        known = self._known.get(key_hash)
        if known is not None and now < known.fresh_until:
            return known.integration
        unknown_until = self._unknown.get(key_hash)
        if unknown_until is not None and now < unknown_until:
            return None
        return await self._ask(key_hash)

    def forget(self, integration_id: str) -> None:
        """This gateway revoked or changed the integration: its keys are asked about again at their next use."""
        self._generation += 1
        for key_hash in [h for h, k in self._known.items() if k.integration["id"] == integration_id]:
            del self._known[key_hash]

    async def _ask(self, key_hash: str) -> dict | None:
        task = self._asking.get(key_hash)
        if task is None:
            task = self._asking[key_hash] = asyncio.create_task(self._lookup(key_hash))
            task.add_done_callback(partial(self._answered, key_hash, self._generation))
        try:
            # Shielded: one sender giving up (or timing out) does not cancel the others' question.
            return await asyncio.wait_for(asyncio.shield(task), self.timeout)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return self._unconfirmed(key_hash, exc)

    def _answered(self, key_hash: str, generation: int, task: asyncio.Task) -> None:
        if self._asking.get(key_hash) is task:
            del self._asking[key_hash]
        if task.cancelled() or task.exception() is not None or generation != self._generation:
            return
        now, integration = self.clock(), task.result()
        if self._outage:
            self._outage = False
            log.info("PostgreSQL answers again: integration keys are confirmed again")
        if integration is None:
            self._known.pop(key_hash, None)
            self._unknown[key_hash] = now + self.negative_ttl
        else:
            self._unknown.pop(key_hash, None)
            self._known[key_hash] = _Known(integration, now + self.ttl, now)

    def _unconfirmed(self, key_hash: str, exc: BaseException) -> dict | None:
        now = self.clock()
        known = self._known.get(key_hash)
        if known is not None and now - known.confirmed_at < self.outage_grace:
            # Asking again on every request would only make each wait for the timeout.
            known.fresh_until = now + self.ttl
            if not self._outage:
                self._outage = True
                log.warning("PostgreSQL unavailable (%s): integration keys are taken as last confirmed, for "
                            "up to %.0f s after that", type(exc).__name__, self.outage_grace)
            return known.integration
        if key_hash in self._unknown:
            return None  # unknown or revoked once, so for good
        raise unavailable(f"the integration key cannot be checked now (PostgreSQL unavailable: "
                          f"{type(exc).__name__}); retry") from exc
