"""Periodic jobs a service runs beside its API (auto-close, sweeps): a lifespan hook each.

Every replica runs the job; the job's own locking (SKIP LOCKED, an advisory lock) shares
or serializes the work between them. A pass that fails is logged and tried again at the
next interval: the job never dies with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from itsm_kit.runtime import Hook, Runtime

log = logging.getLogger(__name__)


def periodic(name: str, interval: Callable[[Runtime], float | None], batch: Callable[[Runtime], Awaitable[bool]],
             ) -> Hook:
    """A hook running `batch` every `interval(runtime)` seconds (None or 0: the job is off here).

    `batch` does one transaction's worth and says whether there may be more: a pass runs
    batches until there is none.
    """

    async def loop(runtime: Runtime, seconds: float) -> None:
        while True:
            try:
                while await batch(runtime):
                    pass
            except Exception:
                log.exception("%s pass failed; retrying at the next interval", name)
            await asyncio.sleep(seconds)

    @contextlib.asynccontextmanager
    async def hook(runtime: Runtime) -> AsyncIterator[None]:
        seconds = interval(runtime)
        if not seconds:
            yield
            return
        task = asyncio.create_task(loop(runtime, seconds), name=name)
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return hook
