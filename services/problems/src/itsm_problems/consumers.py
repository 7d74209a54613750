"""The events the problems service reacts to, and the handler each goes to."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_contracts.events.external import (
    ExternalRecordAcknowledged, ExternalRecordCommented, ExternalRecordResolved, ExternalRecordStatusChanged,
)
from itsm_contracts.events.incidents import (
    IncidentOpened, IncidentProblemLinked, IncidentProblemUnlinked, IncidentStateChanged, IncidentUpdated,
)
from itsm_contracts.events.requests import RecordDispatched
from itsm_kit.cmdb_copy import cmdb_handlers
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_problems import handlers

CONSUMES = [topics.CMDB, topics.INCIDENTS, topics.NOTIFICATIONS, topics.REQUESTS]
INCIDENT_EVENTS = (IncidentOpened, IncidentUpdated, IncidentStateChanged, IncidentProblemLinked,
                   IncidentProblemUnlinked)


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    incidents = runtime.batched(handlers.incidents_changed)
    external = runtime.batched(handlers.external_records)
    return {
        # The CMDB copy: which business services a problem's CIs serve.
        **cmdb_handlers(runtime),
        # Incidents: observed (detection, suggestions, reports), and linked from their side. One handler for every
        # type, so that a run keeps each incident's events in order (opened before updated).
        **{kind.type: incidents for kind in INCIDENT_EVENTS},
        # Connected tools (Jira; issue 16): what people did there, as work notes only.
        **{kind.type: external for kind in (ExternalRecordAcknowledged, ExternalRecordResolved,
                                            ExternalRecordStatusChanged, ExternalRecordCommented)},
        # Requests (issue 17): the dispatch rules' decisions, taken unless someone assigned the problem meanwhile.
        RecordDispatched.type: runtime.batched(handlers.records_dispatched),
    }
