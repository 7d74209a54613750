"""Prometheus metrics every service exposes on /metrics."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from itsm_kit.middleware import HttpMiddleware

HTTP_LATENCY = Histogram(
    "itsm_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_PUBLISHED = Counter("itsm_events_published_total", "Events published to Kafka", ["topic"])
EVENTS_CONSUMED = Counter("itsm_events_consumed_total", "Events consumed, by outcome", ["topic", "outcome"])
OUTBOX_BACKLOG = Gauge("itsm_outbox_backlog", "Outbox events not yet published")
OUTBOX_REFUSED = Counter("itsm_outbox_refused_total", "Publications of an outbox event Kafka refused", ["topic"])
OUTBOX_SET_ASIDE = Gauge("itsm_outbox_set_aside", "Outbox events set aside after Kafka refused them too often: "
                         "not published until an operator puts them back")
CONSUMER_ASSIGNMENTS = Counter("itsm_consumer_assignments_total", "Partition assignments the group gave this "
                               "process's consumer (one per rebalance it took part in)", ["group"])
CONSUMER_OVERLAPS = Counter("itsm_consumer_overlaps_total", "Batches a rebalance gave to another group member "
                            "mid-way: offsets not committed, or the other recorded the events first", ["reason"])
CONSUMER_LAG = Gauge("itsm_consumer_lag", "Records behind the partition end", ["topic", "partition"])


def _route_template(scope: Scope) -> str:
    """The matched route's full template (`/api/v1/incidents/{incident_id}`), so labels stay few.

    A route inside included routers knows only its own part of the template; the rest
    is the prefix of the request path in front of what that part matched.
    """
    route = scope.get("route")
    if route is None:
        return "unmatched"
    try:
        matched = route.path_format.format(**scope.get("path_params", {}))
    except (AttributeError, KeyError, IndexError):
        return getattr(route, "path", "unmatched")
    path = scope["path"]
    prefix = path[: len(path) - len(matched)] if path.endswith(matched) else ""
    return prefix + route.path


class HttpMetricsMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_with_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            HTTP_LATENCY.labels(scope["method"], _route_template(scope), str(status)).observe(elapsed)


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
