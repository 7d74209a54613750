"""The events the incidents service reacts to."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_kit.consumer import Handler
from itsm_kit.runtime import Runtime
from itsm_incidents import handlers

CONSUMES = [topics.ALERTS]


def event_handlers(runtime: Runtime) -> dict[str, Handler]:
    async def on_alert(session, event, alert) -> None:
        await handlers.receive_alert(session, runtime.outbox, alert)

    return {"itsm.alert.received": on_alert}
