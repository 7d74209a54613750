"""The retention job: finished deliveries (and their attempts) and the connector webhooks taken, deleted once older
than ITSM_NOTIFICATIONS_DELIVERY_RETENTION_DAYS, so the delivery log does not grow without end.

Every replica runs it; rows are taken FOR UPDATE SKIP LOCKED, a batch at a time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from itsm_kit.clock import utcnow
from itsm_kit.jobs import periodic
from itsm_kit.runtime import Runtime
from itsm_notifications.handlers import deliveries
from itsm_notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)


async def _batch(runtime: Runtime) -> bool:
    settings: NotificationsSettings = runtime.settings  # type: ignore[assignment]
    before = utcnow() - timedelta(days=settings.delivery_retention_days)
    pruned = await deliveries.prune_deliveries(runtime.unit_of_work(), before, settings.delivery_prune_batch_size)
    if pruned:
        log.info("pruned the delivery log", extra={"pruned": pruned})
    return pruned == settings.delivery_prune_batch_size


pruning = periodic("notification-retention", lambda r: r.settings.delivery_prune_interval_seconds, _batch)
