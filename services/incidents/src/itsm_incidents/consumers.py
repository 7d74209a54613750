"""The events the incidents service reacts to, and the handler each goes to."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_contracts.events.alerts import AlertReceived
from itsm_contracts.events.cmdb import (
    CiCreated, CiRelationshipAdded, CiRelationshipRemoved, CiRetired, CiStatusChanged, CiUpdated,
)
from itsm_contracts.events.problems import ProblemIncidentLinked, ProblemIncidentUnlinked, ProblemResolved
from itsm_contracts.events.sla import SlaBreached
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_incidents import handlers

CONSUMES = [topics.ALERTS, topics.CMDB, topics.SLA, topics.PROBLEMS]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    """Every handler takes runs: alert storms come in runs, and one set of reads and writes for a run
    is what keeps up. One handler for several types takes runs that mix them."""
    cis_changed = runtime.batched(handlers.cis_changed)
    relationships_changed = runtime.batched(handlers.relationships_changed)
    problem_links_changed = runtime.batched(handlers.problem_links_changed)
    return {
        AlertReceived.type: runtime.batched(handlers.receive_alerts),
        SlaBreached.type: runtime.batched(handlers.sla_breached),
        CiCreated.type: runtime.batched(handlers.cis_created),
        CiUpdated.type: cis_changed, CiStatusChanged.type: cis_changed, CiRetired.type: cis_changed,
        CiRelationshipAdded.type: relationships_changed, CiRelationshipRemoved.type: relationships_changed,
        # Problems: incidents follow their links and, when asked, the problem's resolution (never a call).
        ProblemIncidentLinked.type: problem_links_changed, ProblemIncidentUnlinked.type: problem_links_changed,
        ProblemResolved.type: runtime.batched(handlers.problems_resolved),
    }
