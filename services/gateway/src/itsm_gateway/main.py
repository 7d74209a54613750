"""Wiring of the gateway."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_gateway import api, auth, upstream
from itsm_gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    app = create_service_app(
        settings,
        title="ITSM platform API",
        description=(
            "The one front door of the ITSM platform. Users authenticate with a bearer JWT; monitoring "
            "systems post alerts with an integration key. Errors are RFC 9457 problem details."
        ),
        routers=[api.router, api.root],
        produces_directly=[topics.ALERTS],
        hooks=[upstream.http_client, auth.guard],
        body_limits={"/api/v1/cmdb/imports": settings.cmdb_import_max_body_bytes},
        front_door=True,  # callers authenticate here; the services behind take only calls it signs
    )
    app.openapi = auth.with_sign_in(_with_throttling(app.openapi), settings)
    return app


def _with_throttling(openapi: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """People get 429 once their address used up its failed authentications (limits.py): say so."""
    def documented() -> dict[str, Any]:
        spec = openapi()
        for item in spec.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict) and "security" in operation:
                    operation.setdefault("responses", {}).setdefault("429", THROTTLED_ANSWER)
        return spec

    return documented


THROTTLED_ANSWER = {
    "description": "too many failed authentications from this address: retry after Retry-After",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
