"""The events the requests service reacts to, and the handler each goes to.

Dispatch needs what the rules match on and what the methods weigh: incidents and problems as they open (the records
it assigns) and while they stay open (least loaded's work), the CMDB's CIs (class, owner group) and the directory's
people and groups (a requester's location and manager, a group's members).
"""

from __future__ import annotations

from itsm_contracts import topics
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime

CONSUMES = [topics.INCIDENTS, topics.PROBLEMS, topics.CMDB, topics.DIRECTORY]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    # -- dispatch helper: incidents, problems, CMDB, directory (issue 17)
    return {}
