"""The events the knowledge service reacts to, and the handler each goes to.

Problems' known errors: a published one is kept (suggested as it is) and drafted as an article that links back to
it; a retired one is no longer suggested.
"""

from __future__ import annotations

from itsm_contracts import topics
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime

CONSUMES = [topics.PROBLEMS]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    # -- known errors helper (issue 18): ProblemKnownErrorPublished, ProblemKnownErrorRetired
    return {}
