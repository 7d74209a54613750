"""The events the notifications service reacts to, and the handler each goes to."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

from itsm_contracts import topics
from itsm_kit.consumer import Batched, Interest
from itsm_kit.context import NotedInTask
from itsm_kit.runtime import Runtime
from itsm_notifications.domain.subscriptions import EVENT_TYPES
from itsm_notifications.handlers import pipeline
from itsm_notifications.store.records import keeps_copy
from itsm_notifications.store.subscriptions import SubscriptionRepository

# Everything a subscription may name, and what connected tools said (itsm.notifications, for the records' copy).
CONSUMES = [topics.INCIDENTS, topics.SLA, topics.CHANGES, topics.PROBLEMS, topics.REQUESTS]


# Whether the run just applied made deliveries. Most events match no subscription (an alert storm's incidents, SLA
# timers starting), and a commit that made none gives the dispatcher nothing to claim.
_deliveries_made = NotedInTask("deliveries_made")


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    """Every event a subscription may name goes to the pipeline: one handler for all, so that a run keeps each
    record's events in order (opened before assigned) and the record copy stays current."""
    events = runtime.batched(partial(pipeline.events_arrived, portal_url=runtime.settings.portal_url,
                                     digest_interval_seconds=runtime.settings.digest_interval_seconds,
                                     made=_deliveries_made.note))
    return dict.fromkeys(sorted(EVENT_TYPES), events)


# Read always: they keep the record copies current. Every other type (SLA timers, a request's tasks) only while an
# enabled subscription names it: an alert storm's timers starting, 16,000 events for 10,000 alerts, were otherwise
# each read, validated and written to the inbox for nothing (measured: 1.26 -> 0.83 CPU-s of this service and
# 0.32 -> 0.21 of its database for the storm).
KEEPING_COPIES = frozenset(t for t in EVENT_TYPES if keeps_copy(t))


def interest(runtime: Runtime) -> Interest:
    async def wanted() -> set[str]:
        async with runtime.sessions() as session:
            return KEEPING_COPIES | await SubscriptionRepository(session).subscribed_types()

    return wanted


@contextlib.asynccontextmanager
async def waking_the_dispatcher(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook: after a consumer commit that made deliveries (some may be due now) the dispatcher looks at
    once, rather than at its next poll."""
    def wake() -> None:
        if _deliveries_made.taken() and (dispatcher := runtime.extras.get("dispatcher")) is not None:
            dispatcher.wake()

    for consumer in runtime.consumers:
        consumer.committed_listeners.append(wake)
    yield
