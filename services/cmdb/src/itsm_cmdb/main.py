"""Wiring of the cmdb service."""

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.clock import utcnow
from itsm_kit.jobs import periodic
from itsm_kit.runtime import Runtime, create_service_app
from itsm_cmdb import api, consumers, handlers
from itsm_cmdb.settings import CmdbSettings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def bulk_friendly_gc(runtime: Runtime) -> AsyncIterator[None]:
    """An import allocates some hundred objects per CI that live until its answer. With CPython's
    default thresholds the cycle collector walks them again and again (measured: a third of an
    import's time); collecting young objects every 50,000 allocations instead keeps that under
    a few percent."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def retire_missing_batch(runtime: Runtime) -> bool:
    """Retire a batch of the CIs discovery no longer finds; whether there may be more."""
    limit = runtime.settings.missing_sweep_batch_size
    retired = await handlers.retire_missing(runtime.unit_of_work(), at=utcnow(), limit=limit)
    if retired:
        log.info("retired CIs no discovery source reports any more", extra={"retired": retired})
    return retired == limit


missing_ci_sweep = periodic("missing-ci-sweep", lambda r: r.settings.missing_sweep_seconds, retire_missing_batch)


def create_app(settings: CmdbSettings | None = None) -> FastAPI:
    settings = settings or CmdbSettings()
    return create_service_app(
        settings,
        title="ITSM CMDB",
        description="Configuration items, their typed relationships, impact analysis and discovery imports.",
        routers=[api.router],
        publishes=[topics.CMDB],
        body_limits={"/imports": settings.import_max_body_bytes},
        hooks=[bulk_friendly_gc, missing_ci_sweep],
        **({"consumes": consumers.CONSUMES, "handlers": consumers.event_handlers} if consumers.CONSUMES else {}),
    )
