"""Sends due deliveries (issue 16: delivery helper)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from itsm_kit.runtime import Runtime


@contextlib.asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[None]:
    yield
