"""The events the changes service reacts to, and the handler each goes to."""

from __future__ import annotations

from typing import Any

from itsm_contracts import topics
from itsm_contracts.events.incidents import (
    IncidentOpened, IncidentPriorityChanged, IncidentStateChanged, IncidentUpdated,
)
from itsm_contracts.events.requests import WorkOrderApplied
from itsm_kit.cmdb_copy import cmdb_handlers
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_kit.unit_of_work import UnitOfWork
from itsm_changes import handlers

CONSUMES = [topics.CMDB, topics.INCIDENTS, topics.REQUESTS]
# risk (issue 15): what an incident copy keeps current from (id, affected CI, priority, state, opened at).
INCIDENT_EVENTS = (IncidentOpened, IncidentPriorityChanged, IncidentStateChanged, IncidentUpdated)


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    policy = handlers.RiskPolicy.of(runtime.settings)

    async def incidents(uow: UnitOfWork, run: list[tuple[Any, Any]]) -> None:
        await handlers.incidents_changed(uow, run, policy)

    by_incident = runtime.batched(incidents)
    return {
        # The CMDB copy (risk, conflicts); changes awaiting approval on the CIs a run touched are reassessed.
        **cmdb_handlers(runtime, then=handlers.cmdb_changed(policy)),
        # One handler for every incident type, so that a run keeps each incident's events in order.
        **{kind.type: by_incident for kind in INCIDENT_EVENTS},
        # Requests (issue 17): work-order templates' fields, set as an agent's PATCH would.
        WorkOrderApplied.type: runtime.batched(handlers.work_orders_applied),
    }
