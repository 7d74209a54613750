"""Correlation and causation of the work in progress, carried across awaits; and what a task noted for after its
commit."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)


def current_correlation_id() -> str:
    value = correlation_id.get()
    if value is None:
        value = str(uuid.uuid4())
        correlation_id.set(value)
    return value


class NotedInTask:
    """Something a task noted while it worked (events staged, deliveries made), taken once it has committed, to wake
    whoever acts on it (the relay, the dispatcher) only then, and only if there is something.

    Kept per task: the consumer, each HTTP request and each background job work and commit in tasks of their own, side
    by side, and one task's commit must not take what another has noted but not committed yet (its wake would come
    too early, finding nothing, and nothing would wake them again)."""

    def __init__(self, name: str):
        self._noted: ContextVar[bool] = ContextVar(name, default=False)

    def note(self) -> None:
        self._noted.set(True)

    def taken(self) -> bool:
        """Whether this task noted something since it last took it."""
        if not self._noted.get():
            return False
        self._noted.set(False)
        return True
