"""The events the sla service reacts to: incident changes (its clocks) and CMDB CIs (their classes)."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_contracts.events.cmdb import CiCreated, CiUpdated
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_sla import handlers
from itsm_sla.domain.history import CONSUMED
from itsm_sla.scheduler import catalog_of

CONSUMES = [topics.INCIDENTS, topics.CMDB]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    catalog = catalog_of(runtime)

    async def incident_events(uow, run) -> None:
        written = await handlers.take_incident_events(uow, catalog, run)
        if (scheduler := runtime.extras.get("scheduler")) is not None and written:
            scheduler.expect(min((t.next_alarm_at for t in written if t.next_alarm_at), default=None))

    # One handler for every incident event type, so a run mixing them is still taken at once.
    on_incident = runtime.batched(incident_events)
    on_ci = runtime.batched(handlers.take_cis)
    return {**{model.type: on_incident for model in CONSUMED}, CiCreated.type: on_ci, CiUpdated.type: on_ci}
