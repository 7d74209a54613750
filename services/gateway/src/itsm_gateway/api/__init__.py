"""The public API, version 1: everything under /api/v1; and PagerDuty's own path at the root."""

from fastapi import APIRouter

from itsm_gateway.api import (
    catalogue, changes, cmdb, connectors, deliveries, directory, dispatch, incidents, integrations, knowledge, problems,
    requests, screens, search, session, sla, stream, subscriptions, suggestions, work_orders,
)

V1 = "/api/v1"
PAGERDUTY = {"prefix": V1 + "/integrations/pagerduty"}
# Each router is included in the app itself, not in one /api/v1 router of them all: FastAPI (0.137 on) walks every
# route of an included router's tree to match a request, several times a request (measured: the last route took
# 900 µs of CPU a request that way, 525 µs this way; services/gateway/tests/test_routing.py). In this order: the
# first route that matches a request takes it.
routers: list[tuple[APIRouter, dict]] = [(router, options or {"prefix": V1}) for router, options in [
    (integrations.router, None), (integrations.webhooks, None), (integrations.pagerduty, PAGERDUTY),
    (incidents.router, None), (cmdb.router, None),
    (problems.router, None), (problems.known_errors, None), (problems.detection_rules, None),
    (problems.problem_insights, None),
    (changes.schedule, None),  # before changes.router: /changes/calendar is no change id (issue 15)
    (changes.change_windows, None), (changes.router, None), (changes.change_templates, None),
    (changes.approval_policies, None), (changes.change_reports, None),
    (sla.router, None), (directory.router, None), (subscriptions.router, None), (deliveries.router, None),
    (connectors.router, None), (catalogue.router, None), (requests.router, None), (dispatch.router, None),
    (work_orders.router, None), (knowledge.router, None),
    (suggestions.router, None),  # suggestions while working, attaching articles (issue 18)
    (stream.router, None), (screens.router, None),
    (search.router, None),  # one search across the platform (issue 18)
    (session.router, None),
    # PagerDuty senders whose base URL is swapped for ours post to /v2/enqueue, as at PagerDuty. Its own
    # operationId: the same route under /api/v1 is enqueue_pagerduty_event.
    (integrations.pagerduty, {"generate_unique_id_function": lambda route: f"{route.name}_at_root"}),
]]
