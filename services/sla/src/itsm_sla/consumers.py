"""The events the sla service reacts to: incident changes (its clocks), CMDB CIs (their classes), and request
events (requested items' clocks, issue 17)."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_contracts.events.cmdb import CiCreated, CiUpdated
from itsm_contracts.events.requests import (
    RequestApprovalRequested, RequestApproved, RequestClosed, RequestFulfilled, RequestRejected, RequestSubmitted,
    RequestTaskAssigned,
)
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_sla import handlers
from itsm_sla.domain.history import CONSUMED
from itsm_sla.scheduler import catalog_of

CONSUMES = [topics.INCIDENTS, topics.CMDB, topics.REQUESTS]
REQUEST_EVENTS = (RequestSubmitted, RequestApprovalRequested, RequestApproved, RequestRejected, RequestTaskAssigned,
                  RequestFulfilled, RequestClosed)


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    catalog = catalog_of(runtime)

    def expect(written) -> None:
        if (scheduler := runtime.extras.get("scheduler")) is not None and written:
            scheduler.expect(min((t.next_alarm_at for t in written if t.next_alarm_at), default=None))

    async def incident_events(uow, run) -> None:
        expect(await handlers.take_incident_events(uow, catalog, run))

    async def request_events(uow, run) -> None:
        expect(await handlers.take_request_events(uow, run))

    # One handler for every incident event type, so a run mixing them is still taken at once.
    on_incident = runtime.batched(incident_events)
    on_ci = runtime.batched(handlers.take_cis)
    on_request = runtime.batched(request_events)  # one for all, so a request's events keep their order in a run
    return {**{model.type: on_incident for model in CONSUMED}, CiCreated.type: on_ci, CiUpdated.type: on_ci,
            **{model.type: on_request for model in REQUEST_EVENTS}}
