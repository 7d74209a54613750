"""The public API, version 1: everything under /api/v1; and PagerDuty's own path at the root."""

from fastapi import APIRouter

from itsm_gateway.api import (
    catalogue, changes, cmdb, connectors, deliveries, directory, dispatch, incidents, integrations, knowledge, problems,
    requests, screens, search, session, sla, stream, subscriptions, suggestions, work_orders,
)

router = APIRouter(prefix="/api/v1")
router.include_router(integrations.router)
router.include_router(integrations.webhooks)
router.include_router(integrations.pagerduty, prefix="/integrations/pagerduty")
router.include_router(incidents.router)
router.include_router(cmdb.router)
router.include_router(problems.router)
router.include_router(problems.known_errors)
router.include_router(problems.detection_rules)
router.include_router(problems.problem_insights)
router.include_router(changes.schedule)  # before changes.router: /changes/calendar is no change id (issue 15)
router.include_router(changes.change_windows)
router.include_router(changes.router)
router.include_router(changes.change_templates)
router.include_router(changes.approval_policies)
router.include_router(changes.change_reports)
router.include_router(sla.router)
router.include_router(directory.router)
router.include_router(subscriptions.router)
router.include_router(deliveries.router)
router.include_router(connectors.router)
router.include_router(catalogue.router)
router.include_router(requests.router)
router.include_router(dispatch.router)
router.include_router(work_orders.router)
router.include_router(knowledge.router)
router.include_router(suggestions.router)  # suggestions while working, attaching articles (issue 18)
router.include_router(stream.router)
router.include_router(screens.router)
router.include_router(search.router)  # one search across the platform (issue 18)
router.include_router(session.router)

# PagerDuty senders whose base URL is swapped for ours post to /v2/enqueue, as at PagerDuty.
root = APIRouter()
# Its own operationId: the same route under /api/v1 is enqueue_pagerduty_event.
root.include_router(integrations.pagerduty, generate_unique_id_function=lambda route: f"{route.name}_at_root")
