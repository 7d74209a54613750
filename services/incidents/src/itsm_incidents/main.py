"""Wiring of the incidents service."""

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_incidents import api, consumers
from itsm_incidents.settings import IncidentsSettings


def create_app(settings: IncidentsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or IncidentsSettings(),
        title="ITSM incidents",
        description="Incident lifecycle and monitoring alert deduplication.",
        routers=[api.router],
        publishes=[topics.INCIDENTS],
        consumes=consumers.CONSUMES,
        handlers=consumers.event_handlers,
    )
