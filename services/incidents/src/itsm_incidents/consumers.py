"""The events the incidents service reacts to, and the handler each goes to."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_contracts.events.alerts import AlertReceived
from itsm_contracts.events.external import (
    ExternalRecordAcknowledged, ExternalRecordCommented, ExternalRecordResolved, ExternalRecordStatusChanged,
)
from itsm_contracts.events.knowledge import ArticleAttached
from itsm_contracts.events.problems import (
    ProblemIncidentLinked, ProblemIncidentLinkRefused, ProblemIncidentUnlinked, ProblemKnownErrorPublished,
    ProblemResolved,
)
from itsm_contracts.events.requests import RecordDispatched, WorkOrderApplied
from itsm_contracts.events.sla import SlaBreached
from itsm_kit.cmdb_copy import cmdb_handlers
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_incidents import handlers

CONSUMES = [topics.ALERTS, topics.CMDB, topics.SLA, topics.PROBLEMS, topics.NOTIFICATIONS, topics.REQUESTS,
            topics.KNOWLEDGE]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    """Every handler takes runs: alert storms come in runs, and one set of reads and writes for a run
    is what keeps up. One handler for several types takes runs that mix them."""
    problem_links_changed = runtime.batched(handlers.problem_links_changed)
    external_records = runtime.batched(handlers.external_records)
    return {
        AlertReceived.type: runtime.batched(handlers.receive_alerts),
        SlaBreached.type: runtime.batched(handlers.sla_breached),
        # The CMDB: this service's copy of it (the CI an incident names, the business services it impacts).
        **cmdb_handlers(runtime),
        # Problems: incidents follow their links (and the refusal of one made here), hear their known errors'
        # workarounds and, when asked, take the problem's resolution (never a call).
        ProblemIncidentLinked.type: problem_links_changed, ProblemIncidentUnlinked.type: problem_links_changed,
        ProblemIncidentLinkRefused.type: problem_links_changed,
        ProblemKnownErrorPublished.type: runtime.batched(handlers.known_errors_published),
        ProblemResolved.type: runtime.batched(handlers.problems_resolved),
        # Connected tools (PagerDuty, Jira; issue 16): what people did there, applied as the lifecycle allows. One
        # handler for every type, so that a run keeps one record's acknowledgement before its resolution.
        **{kind.type: external_records for kind in (ExternalRecordAcknowledged, ExternalRecordResolved,
                                                    ExternalRecordStatusChanged, ExternalRecordCommented)},
        # Requests (issue 17): the dispatch rules' decisions, taken unless someone assigned the incident meanwhile.
        RecordDispatched.type: runtime.batched(handlers.records_dispatched),
        # ... and work-order templates' fields, set as an agent's PATCH would (the template's tasks are made there).
        WorkOrderApplied.type: runtime.batched(handlers.work_orders_applied),
        # Knowledge (issue 18): an article attached to an incident, noted on its timeline.
        ArticleAttached.type: runtime.batched(handlers.articles_attached),
    }
