"""Wiring of the sla service."""

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_sla import api, consumers, scheduler
from itsm_sla.settings import SlaSettings


def create_app(settings: SlaSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or SlaSettings(),
        title="ITSM SLA",
        description="SLA definitions, business calendars and timers for incidents: started, paused and stopped by "
                    "incident events, warnings and breaches announced at the moment they happen. Requested items "
                    "are timed too (response and fulfilment targets from the catalogue, by request events).",
        routers=[api.timers_router, api.definitions_router, api.calendars_router, api.operations_router],
        publishes=[topics.SLA],
        consumes=consumers.CONSUMES,
        handlers=consumers.event_handlers,
        hooks=[scheduler.alarm_scheduler],
    )
