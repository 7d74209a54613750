"""The events the requests service reacts to, and the handler each goes to.

Dispatch needs what the rules match on and what the methods weigh: incidents and problems as they open (the records
it assigns) and while they stay open (least loaded's work), the CMDB's CIs (class, owner group) and the directory's
people and groups (a requester's location and manager, a group's members).
"""

from __future__ import annotations

from itsm_contracts import topics
from itsm_contracts.events.cmdb import CiCreated, CiUpdated
from itsm_contracts.events.directory import GroupRemoved, GroupSaved, PersonRemoved, PersonSaved
from itsm_contracts.events.incidents import (
    IncidentAssigned, IncidentCanceled, IncidentClosed, IncidentOpened, IncidentPriorityChanged, IncidentReopened,
    IncidentResolved, IncidentStateChanged,
)
from itsm_contracts.events.problems import (
    ProblemClosed, ProblemOpened, ProblemResolved, ProblemStateChanged, ProblemUpdated,
)
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_requests.handlers import dispatch

CONSUMES = [topics.INCIDENTS, topics.PROBLEMS, topics.CMDB, topics.DIRECTORY]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    # -- dispatch helper: incidents, problems, CMDB, directory (issue 17)
    # One handler per source, so that a run mixing an incident's opening and its assignment is applied in order.
    incidents = runtime.batched(dispatch.incidents_changed)
    problems = runtime.batched(dispatch.problems_changed)
    directory = runtime.batched(dispatch.directory_changed)
    return {
        **{t.type: incidents for t in (IncidentOpened, IncidentAssigned, IncidentPriorityChanged, IncidentStateChanged,
                                       IncidentResolved, IncidentClosed, IncidentCanceled, IncidentReopened)},
        **{t.type: problems for t in (ProblemOpened, ProblemUpdated, ProblemStateChanged, ProblemResolved,
                                      ProblemClosed)},
        CiCreated.type: runtime.batched(dispatch.cis_created),
        CiUpdated.type: runtime.batched(dispatch.cis_updated),
        **{t.type: directory for t in (PersonSaved, PersonRemoved, GroupSaved, GroupRemoved)},
    }
