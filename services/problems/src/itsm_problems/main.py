"""Wiring of the problems service."""

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_problems import api, consumers
from itsm_problems.settings import ProblemsSettings
from itsm_problems.store import write_timeline


def create_app(settings: ProblemsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ProblemsSettings(),
        title="ITSM problems",
        description="Problems: the underlying causes of incidents, from assessment to fix.",
        routers=[api.router, api.known_errors_router, api.detection_router],
        publishes=[topics.PROBLEMS],
        timeline=write_timeline,
        **({"consumes": consumers.CONSUMES, "handlers": consumers.event_handlers} if consumers.CONSUMES else {}),
    )
