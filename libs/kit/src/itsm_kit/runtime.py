"""What a running service holds: settings, database, producer, outbox, consumers.

`create_service_app` assembles every service the same way, so a service's main.py
only names its routers, the topics it publishes (through the outbox, or directly when
the Kafka acknowledgement is itself the answer, as for monitoring webhooks) and the
events it consumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from itsm_kit import errors, health
from itsm_kit import logging as kit_logging
from itsm_kit.consumer import Batched, EventConsumer, Handler, Interest
from itsm_kit.db import make_engine, make_sessionmaker
from itsm_kit.kafka import ensure_topics, make_producer, start_with_retry
from itsm_kit.internal_auth import SignedCallsOnly, require_key
from itsm_kit.metrics import HttpMetricsMiddleware
from itsm_kit.metrics_server import serve_metrics
from itsm_kit.middleware import BodyLimitMiddleware, CorrelationIdMiddleware, TextGuardMiddleware
from itsm_kit.openapi import document
from itsm_kit.outbox import Outbox, OutboxRelay
from itsm_kit.settings import ServiceSettings
from itsm_kit.unit_of_work import TimelineWriter, UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    outbox: Outbox
    relay: OutboxRelay | None = None
    consumers: list[EventConsumer] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    timeline: TimelineWriter | None = None

    def unit_of_work(self, session: AsyncSession | None = None) -> UnitOfWork:
        """A unit of work of its own, or one joining `session`'s transaction (a consumer's)."""
        return UnitOfWork(self.sessions, self.outbox, timeline=self.timeline, session=session)

    def batched(self, work: Callable[[UnitOfWork, list], Awaitable[None]]) -> Batched:
        """A consumer handler for runs of events, each run applied in a unit of work joining the consumer's
        transaction."""
        async def many(session: AsyncSession, run: list) -> None:
            await work(self.unit_of_work(session), run)

        return Batched.of(many)


# Dependencies are coroutines, however little they do: FastAPI runs a plain `def` one in its thread pool, a hop
# (and a wait for a free thread under load) on every request.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_unit_of_work(runtime: RuntimeDep) -> UnitOfWork:
    return runtime.unit_of_work()


# What a route hands to its handler, which opens and commits it.
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


HandlersFactory = Callable[[Runtime], Mapping[str, Handler]]
Hook = Callable[[Runtime], contextlib.AbstractAsyncContextManager[None]]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    version: str = "0.1.0",
    description: str = "",
    routers: Sequence[APIRouter | tuple[APIRouter, Mapping[str, Any]]],  # a router, or one and include_router's options
    publishes: Sequence[str] = (),
    produces_directly: Sequence[str] = (),
    consumes: Sequence[str] = (),
    handlers: HandlersFactory | None = None,
    interest: Callable[[Runtime], Interest] | None = None,
    hooks: Sequence[Hook] = (),
    body_limits: Mapping[str, int] | None = None,
    timeline: TimelineWriter | None = None,
    front_door: bool = False,
    operation_ids: Callable[[Any], str] | None = None,
) -> FastAPI:
    """`body_limits`: paths whose requests may be larger (or must be smaller) than settings.max_body_bytes.
    `timeline`: writes the timeline lines aggregates keep (see UnitOfWork).
    `interest`: the event types its consumer wants for a read, when that is fewer than it handles (itsm_kit.consumer).
    `front_door`: the gateway, which authenticates callers itself; every other service takes only the
    calls the gateway signed (itsm_kit.internal_auth).
    `operation_ids`: each route's OpenAPI operationId (FastAPI's default joins name, path and method)."""
    kit_logging.configure(settings.service, settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        require_key(settings)  # the gateway signs with it, the others verify: no start without it
        engine = make_engine(settings.database_url, settings.db_pool_size)
        producer = make_producer(settings.kafka_bootstrap, client_id=settings.service, security=settings.kafka_security)
        runtime = Runtime(settings, engine, make_sessionmaker(engine), producer, Outbox(settings.source),
                          timeline=timeline)
        app.state.runtime = runtime
        await ensure_topics(settings.kafka_bootstrap, [*publishes, *produces_directly, *consumes],
                            settings.kafka_partitions, settings.kafka_replication_factor,
                            settings.startup_timeout_seconds, settings.kafka_security)
        await start_with_retry(producer, settings.service, settings.startup_timeout_seconds)
        tasks: list[asyncio.Task] = []
        if publishes:
            runtime.relay = OutboxRelay(runtime.sessions, producer, batch_size=settings.relay_batch_size,
                                        poll_seconds=settings.relay_poll_seconds,
                                        max_attempts=settings.relay_max_attempts)
            runtime.outbox.relay = runtime.relay
            tasks.append(asyncio.create_task(runtime.relay.run(), name="outbox-relay"))
        if consumes and handlers is not None:
            consumer = EventConsumer(
                name=settings.service, topics=list(consumes), handlers=handlers(runtime),
                bootstrap=settings.kafka_bootstrap, sessions=runtime.sessions, producer=producer,
                batch_size=settings.consumer_batch_size, max_attempts=settings.consumer_max_attempts,
                retry_backoff=settings.consumer_retry_backoff_seconds,
                startup_timeout=settings.startup_timeout_seconds, after_commit=runtime.outbox.committed,
                group_instance_id=settings.consumer_group_instance_id,
                session_timeout=settings.consumer_session_timeout_seconds, linger=settings.consumer_linger_seconds,
                commit_interval=settings.consumer_commit_interval_seconds, lanes=settings.consumer_lanes,
                interest=interest(runtime) if interest is not None else None, security=settings.kafka_security,
            )
            runtime.consumers.append(consumer)
            tasks.append(asyncio.create_task(consumer.run(), name=f"consumer-{settings.service}"))
        for task in tasks:
            task.add_done_callback(_fail_loudly)
        async with contextlib.AsyncExitStack() as stack:
            for hook in (serve_metrics, *hooks):
                await stack.enter_async_context(hook(runtime))
            # What startup made (modules, models, schemas: most of the heap) lives as long as the
            # process: out of the cycle collector's way, a full collection walks only what came
            # since (measured: 70-110 ms pauses in incidents and the gateway before).
            gc.freeze()
            log.info("started", extra={"port": settings.port, "metrics_port": settings.metrics_port})
            try:
                yield
            finally:
                # Consumers finish and commit their batch; the relay stops between passes.
                for consumer in runtime.consumers:
                    consumer.stop()
                consumer_tasks = [t for t in tasks if t.get_name().startswith("consumer-")]
                await asyncio.wait(consumer_tasks, timeout=10) if consumer_tasks else None
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await engine.dispose()

    extra = {"generate_unique_id_function": operation_ids} if operation_ids is not None else {}
    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan, **extra)
    app.openapi = document(app)
    errors.install(app)
    app.add_middleware(TextGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, larger=body_limits)
    if not front_door:
        app.add_middleware(SignedCallsOnly, settings=settings)  # before the body is read; 401s counted
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(CorrelationIdMiddleware)
    app.include_router(health.router)
    for router in routers:
        router, options = router if isinstance(router, tuple) else (router, {})
        app.include_router(router, **options)
    return app


def _fail_loudly(task: asyncio.Task) -> None:
    """A background loop that dies takes the process with it, so an orchestrator restarts it."""
    if task.cancelled():
        return
    if task.exception() is not None:
        log.critical("background task %s died", task.get_name(), exc_info=task.exception())
        import os
        import signal

        os.kill(os.getpid(), signal.SIGTERM)
