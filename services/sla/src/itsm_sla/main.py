"""Wiring of the sla service."""

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_sla import api, consumers
from itsm_sla.settings import SlaSettings


def create_app(settings: SlaSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or SlaSettings(),
        title="ITSM SLA",
        description="SLA timers for incidents: response and resolution, started and stopped by incident events.",
        routers=[api.router],
        publishes=[topics.SLA],
        consumes=consumers.CONSUMES,
        handlers=consumers.event_handlers,
    )
