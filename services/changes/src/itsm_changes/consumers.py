"""The events the changes service reacts to: none yet (CI and incident read models come later)."""

from __future__ import annotations

from itsm_kit.consumer import Handler
from itsm_kit.runtime import Runtime

CONSUMES: list[str] = []


def event_handlers(runtime: Runtime) -> dict[str, Handler]:
    return {}
