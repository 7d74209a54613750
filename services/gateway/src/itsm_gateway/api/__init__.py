"""The public API, version 1: everything under /api/v1; and PagerDuty's own path at the root."""

from fastapi import APIRouter

from itsm_gateway.api import changes, cmdb, incidents, integrations, problems, sla

router = APIRouter(prefix="/api/v1")
router.include_router(integrations.router)
router.include_router(integrations.webhooks)
router.include_router(integrations.pagerduty, prefix="/integrations/pagerduty")
router.include_router(incidents.router)
router.include_router(cmdb.router)
router.include_router(problems.router)
router.include_router(changes.router)
router.include_router(sla.router)

# PagerDuty senders whose base URL is swapped for ours post to /v2/enqueue, as at PagerDuty.
root = APIRouter()
root.include_router(integrations.pagerduty)
