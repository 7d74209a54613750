"""Wiring of the problems service."""

import logging
from datetime import timedelta

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.clock import utcnow
from itsm_kit.jobs import periodic
from itsm_kit.runtime import Runtime, create_service_app
from itsm_problems import api, consumers, handlers
from itsm_problems.settings import ProblemsSettings
from itsm_problems.store import write_timeline

log = logging.getLogger(__name__)


async def prune_batch(runtime: Runtime) -> bool:
    """Delete a batch of the incident copy older than its retention; whether there may be more."""
    settings: ProblemsSettings = runtime.settings
    before = utcnow() - timedelta(days=settings.observation_retention_days)
    pruned = await handlers.prune_observations(runtime.unit_of_work(), before, settings.observation_prune_batch_size)
    if pruned:
        log.info("pruned the incident copy", extra={"pruned": pruned})
    return pruned == settings.observation_prune_batch_size


prune_observations = periodic("prune-observations", lambda r: r.settings.observation_prune_interval_seconds,
                              prune_batch)


def create_app(settings: ProblemsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ProblemsSettings(),
        title="ITSM problems",
        description="Problems: the underlying causes of incidents, from assessment to fix.",
        routers=[api.router, api.known_errors_router, api.detection_router],
        publishes=[topics.PROBLEMS],
        consumes=consumers.CONSUMES,
        handlers=consumers.event_handlers,
        hooks=[prune_observations],
        timeline=write_timeline,
    )
