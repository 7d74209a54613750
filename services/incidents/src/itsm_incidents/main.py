"""Wiring of the incidents service."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import Runtime, create_service_app
from itsm_incidents import api, consumers, handlers
from itsm_incidents.settings import IncidentsSettings

log = logging.getLogger(__name__)


async def auto_close_loop(runtime: Runtime) -> None:
    """Every interval, close what has been resolved long enough: batch after batch, one transaction each."""
    settings: IncidentsSettings = runtime.settings
    while True:
        try:
            closed = settings.auto_close_batch_size
            while closed == settings.auto_close_batch_size:
                async with runtime.transaction() as session:
                    closed = await handlers.auto_close_due(session, runtime.outbox, handlers.utcnow(),
                                                           settings.auto_close_days, settings.auto_close_batch_size)
                if closed:
                    log.info("auto-closed incidents", extra={"closed": closed})
        except Exception:
            log.exception("auto-close pass failed; retrying at the next interval")
        await asyncio.sleep(settings.auto_close_interval_seconds)


@contextlib.asynccontextmanager
async def auto_close(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook: the auto-close job, unless ITSM_INCIDENTS_AUTO_CLOSE_DAYS is 0. Every replica
    runs it; SKIP LOCKED in the query splits the work between them."""
    if runtime.settings.auto_close_days <= 0:
        yield
        return
    task = asyncio.create_task(auto_close_loop(runtime), name="auto-close")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def create_app(settings: IncidentsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or IncidentsSettings(),
        title="ITSM incidents",
        description="Incident lifecycle and monitoring alert deduplication.",
        routers=[api.router, api.matrix_router],
        publishes=[topics.INCIDENTS],
        consumes=consumers.CONSUMES,
        handlers=consumers.event_handlers,
        hooks=[auto_close],
    )
