"""Wiring of the gateway."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from itsm_contracts import topics
from itsm_kit.middleware import CORRELATION_HEADER
from itsm_kit.runtime import create_service_app
from itsm_gateway import api, auth, screen_cache, stream, upstream
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
        routers=api.routers,
        produces_directly=[topics.ALERTS],
        hooks=[upstream.http_client, auth.guard, stream.feed, screen_cache.parts],
        body_limits={"/api/v1/cmdb/imports": settings.cmdb_import_max_body_bytes},
        front_door=True,  # callers authenticate here; the services behind take only calls it signs
        operation_ids=operation_id,
    )
    if settings.cors_origins:
        # Outermost: a preflight (OPTIONS, never with credentials) is answered here, before any limit or
        # authentication; an origin not listed gets no Access-Control-Allow-Origin, so browsers refuse it.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS, expose_headers=CORS_EXPOSED,
                           max_age=600)
    app.openapi = auth.with_sign_in(_with_throttling(app.openapi), settings)
    return app


def operation_id(route: Any) -> str:
    """A route's operationId is its function's (or its declared) name, e.g. `list_incidents`: what client
    generators turn into method names. tests/contract/test_operation_ids.py keeps them unique verb phrases."""
    return route.name


CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Bearer tokens, versions, resumed streams, and the correlation id a frontend may set to trace its calls.
REQUEST_ID = CORRELATION_HEADER.decode()  # the request id every answer echoes
CORS_HEADERS = ["Authorization", "Content-Type", "If-Match", "Last-Event-ID", REQUEST_ID]
CORS_EXPOSED = ["ETag", "Location", "Retry-After", REQUEST_ID]


def _with_throttling(openapi: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """People get 429 past their rate of requests, or once their address used up its failed authentications
    (limits.py): say so."""
    def documented() -> dict[str, Any]:
        spec = openapi()
        for item in spec.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict) and "security" in operation:
                    operation.setdefault("responses", {}).setdefault("429", THROTTLED_ANSWER)
        return spec

    return documented


THROTTLED_ANSWER = {
    "description": "too many requests from this user, or too many failed authentications from this address: "
                   "retry after Retry-After",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
