"""/metrics on a port of its own (settings.metrics_port), beside the API's.

A NetworkPolicy opens ports, not paths: with metrics on the API port, whatever may scrape a
service may also call its API. On their own port, the monitoring namespace reaches the metrics
and nothing else, and the API port stays the gateway's (or, for the gateway, the Ingress's).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from itsm_kit.metrics import metrics_endpoint

if TYPE_CHECKING:
    from itsm_kit.runtime import Runtime


class _SecondServer(uvicorn.Server):
    """A server in the service's own event loop: the API's server owns the process's signals
    and, through the lifespan, stops this one."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def metrics_app() -> Starlette:
    return Starlette(routes=[Route("/metrics", metrics_endpoint)])


@contextlib.asynccontextmanager
async def serve_metrics(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook: the metrics server runs while the service does; a port already taken stops the start."""
    settings = runtime.settings
    listening = socket.create_server((settings.host, settings.metrics_port))  # OSError now, not in a task
    config = uvicorn.Config(metrics_app(), lifespan="off", log_config=None, access_log=False,
                            timeout_graceful_shutdown=2)
    server = _SecondServer(config)
    task = asyncio.create_task(server.serve(sockets=[listening]), name="metrics-server")
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
            raise RuntimeError(f"the metrics server on port {settings.metrics_port} stopped at start")
        yield
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        listening.close()
