"""Wiring of the cmdb service."""

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_cmdb import api, consumers
from itsm_cmdb.settings import CmdbSettings


def create_app(settings: CmdbSettings | None = None) -> FastAPI:
    settings = settings or CmdbSettings()
    return create_service_app(
        settings,
        title="ITSM CMDB",
        description="Configuration items, their typed relationships, impact analysis and discovery imports.",
        routers=[api.router],
        publishes=[topics.CMDB],
        body_limits={"/imports": settings.import_max_body_bytes},
        **({"consumes": consumers.CONSUMES, "handlers": consumers.event_handlers} if consumers.CONSUMES else {}),
    )
