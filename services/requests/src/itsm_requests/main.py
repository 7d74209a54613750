"""Wiring of the requests service."""

from __future__ import annotations

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_requests import consumers
from itsm_requests.api import ROUTERS
from itsm_requests.settings import RequestsSettings
from itsm_requests.store.timeline import write_timeline


def create_app(settings: RequestsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or RequestsSettings(),
        title="ITSM requests",
        description="The service catalogue and what is ordered from it: requests, their approvals and fulfilment "
                    "tasks; work-order templates; and the dispatch rules that assign incidents, problems and tasks.",
        routers=ROUTERS,
        publishes=[topics.REQUESTS],
        consumes=consumers.CONSUMES,
        handlers=consumers.event_handlers,
        hooks=[],
        timeline=write_timeline,
    )
