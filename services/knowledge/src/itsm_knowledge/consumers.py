"""The events the knowledge service reacts to, and the handler each goes to.

Problems' known errors: a published one is kept (suggested as it is) and drafted as an article that links back to
it; a retired one is no longer suggested.
"""

from __future__ import annotations

from itsm_contracts import topics
from itsm_contracts.events.problems import ProblemKnownErrorPublished, ProblemKnownErrorRetired
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime
from itsm_knowledge.handlers import known_errors

CONSUMES = [topics.PROBLEMS]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    # -- articles helper (issue 18): known errors kept and drafted as articles. A run holds one handler's events, in
    # the order published, so a revision and a retirement of the same known error are applied in turn.
    return {
        ProblemKnownErrorPublished.type: runtime.batched(known_errors.known_errors_published),
        ProblemKnownErrorRetired.type: runtime.batched(known_errors.known_errors_retired),
    }
