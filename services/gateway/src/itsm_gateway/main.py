"""Wiring of the gateway."""

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_gateway import api, upstream
from itsm_gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    return create_service_app(
        settings,
        title="ITSM platform API",
        description=(
            "The one front door of the ITSM platform. Users authenticate with a bearer JWT; monitoring "
            "systems post alerts with an integration key. Errors are RFC 9457 problem details."
        ),
        routers=[api.router, api.root],
        produces_directly=[topics.ALERTS],
        hooks=[upstream.http_client],
        body_limits={"/api/v1/cmdb/imports": settings.cmdb_import_max_body_bytes},
    )
