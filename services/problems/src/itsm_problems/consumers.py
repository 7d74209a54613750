"""The events the problems service reacts to: none yet (incident links and CI read models come later)."""

from __future__ import annotations

from itsm_kit.consumer import Handler
from itsm_kit.runtime import Runtime

CONSUMES: list[str] = []


def event_handlers(runtime: Runtime) -> dict[str, Handler]:
    return {}
