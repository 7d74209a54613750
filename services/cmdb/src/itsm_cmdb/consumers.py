"""The events the cmdb service reacts to: none (it is the source of CI data, not a reader of it)."""

from __future__ import annotations

from itsm_kit.consumer import Handler
from itsm_kit.runtime import Runtime

CONSUMES: list[str] = []


def event_handlers(runtime: Runtime) -> dict[str, Handler]:
    return {}
