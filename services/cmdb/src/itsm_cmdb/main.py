"""Wiring of the cmdb service."""

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_cmdb import api, consumers
from itsm_cmdb.settings import CmdbSettings


def create_app(settings: CmdbSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or CmdbSettings(),
        title="ITSM CMDB",
        description="Configuration items: what the services run on, and how critical each is.",
        routers=[api.router],
        publishes=[topics.CMDB],
        **({"consumes": consumers.CONSUMES, "handlers": consumers.event_handlers} if consumers.CONSUMES else {}),
    )
