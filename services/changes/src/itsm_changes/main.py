"""Wiring of the changes service."""

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_changes import api, consumers
from itsm_changes.settings import ChangesSettings
from itsm_changes.store import write_timeline


def create_app(settings: ChangesSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ChangesSettings(),
        title="ITSM changes",
        description="Change requests: standard, normal and emergency, each along its own lifecycle.",
        routers=[api.schedule, api.windows, api.feeds, api.router, api.templates, api.policies, api.reports_router],
        timeline=write_timeline,  # the change timeline (lifecycle, issue 15)
        publishes=[topics.CHANGES],
        **({"consumes": consumers.CONSUMES, "handlers": consumers.event_handlers} if consumers.CONSUMES else {}),
    )
