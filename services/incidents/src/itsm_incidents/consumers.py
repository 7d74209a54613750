"""The events the incidents service reacts to."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_incidents import ci_view, escalation, handlers

CONSUMES = [topics.ALERTS, topics.CMDB, topics.SLA]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    async def on_alerts(session, alerts) -> None:
        await handlers.receive_alerts(session, runtime.outbox, alerts)

    async def on_alert(session, event, alert) -> None:
        await on_alerts(session, [(event, alert)])

    # Alert storms come in runs: one set of reads and writes for a run is what keeps up.
    return {"itsm.alert.received": Batched(one=on_alert, many=on_alerts), **ci_view.event_handlers(),
            **escalation.event_handlers(runtime.outbox)}
