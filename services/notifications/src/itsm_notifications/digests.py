"""The digest job: held low-urgency e-mails that are due go out as one message per person (handlers.pipeline).

Every replica runs it; held rows are taken FOR UPDATE SKIP LOCKED, so two replicas never digest the same row.
"""

from __future__ import annotations

from itsm_kit.jobs import periodic
from itsm_kit.runtime import Runtime
from itsm_notifications.handlers import pipeline


def _interval(runtime: Runtime) -> float:
    # Often enough that a digest goes within a minute of its time, however long the digest interval.
    return min(runtime.settings.digest_interval_seconds, 60)


async def _batch(runtime: Runtime) -> bool:
    return await pipeline.digest_due(runtime.unit_of_work())


digesting = periodic("notification-digests", _interval, _batch)
