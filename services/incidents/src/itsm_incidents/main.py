"""Wiring of the incidents service."""

import logging

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.clock import utcnow
from itsm_kit.jobs import periodic
from itsm_kit.runtime import Runtime, create_service_app
from itsm_incidents import api, consumers, handlers
from itsm_incidents.settings import IncidentsSettings
from itsm_incidents.store import write_timeline

log = logging.getLogger(__name__)


async def auto_close_batch(runtime: Runtime) -> bool:
    """Close a batch of what has been resolved long enough; whether there may be more."""
    settings: IncidentsSettings = runtime.settings
    closed = await handlers.auto_close_due(runtime.unit_of_work(), utcnow(), settings.auto_close_days,
                                           settings.auto_close_batch_size)
    if closed:
        log.info("auto-closed incidents", extra={"closed": closed})
    return closed == settings.auto_close_batch_size


# Off where ITSM_INCIDENTS_AUTO_CLOSE_DAYS is 0; SKIP LOCKED in the query splits the work between replicas.
auto_close = periodic("auto-close", lambda r: r.settings.auto_close_interval_seconds if r.settings.auto_close_days > 0
                      else None, auto_close_batch)


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
        timeline=write_timeline,
    )
