"""The events the sla service reacts to: every incident change that starts or stops a clock."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_sla import handlers

CONSUMES = [topics.INCIDENTS]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    def on(use_case) -> Batched:
        """A run of events in one go; a single event (the consumer isolating a failure) as a run of one."""
        async def many(session, run) -> None:
            await use_case(session, runtime.outbox, run)

        async def one(session, event, data) -> None:
            await use_case(session, runtime.outbox, [(event, data)])

        return Batched(one=one, many=many)

    return {
        "itsm.incident.opened": on(handlers.incidents_opened),
        "itsm.incident.state_changed": on(handlers.incidents_state_changed),
        "itsm.incident.resolved": on(handlers.incidents_resolved),
        "itsm.incident.priority_changed": on(handlers.incidents_priority_changed),
    }
