"""The events the sla service reacts to: every incident change that starts or stops a clock."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_kit.consumer import Handler
from itsm_kit.runtime import Runtime
from itsm_sla import handlers

CONSUMES = [topics.INCIDENTS]


def event_handlers(runtime: Runtime) -> dict[str, Handler]:
    def on(use_case) -> Handler:
        async def handle(session, event, data) -> None:
            await use_case(session, runtime.outbox, data)

        return handle

    return {
        "itsm.incident.opened": on(handlers.incident_opened),
        "itsm.incident.state_changed": on(handlers.incident_state_changed),
        "itsm.incident.resolved": on(handlers.incident_resolved),
        "itsm.incident.priority_changed": on(handlers.incident_priority_changed),
    }
