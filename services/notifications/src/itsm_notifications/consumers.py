"""The events the notifications service reacts to, and the handler each goes to."""

from __future__ import annotations

from itsm_contracts import topics
from itsm_kit.consumer import Batched
from itsm_kit.runtime import Runtime

# Everything a subscription may name, and what connected tools said (itsm.notifications, for the records' copy).
CONSUMES = [topics.INCIDENTS, topics.SLA, topics.CHANGES, topics.PROBLEMS]


def event_handlers(runtime: Runtime) -> dict[str, Batched]:
    return {}  # issue 16: the pipeline helper maps every event type to handlers.pipeline
