"""Notification endpoints (admin), the delivery log (agents) and redrive (admin). Issue 16, delivery helper.

Thin pass-throughs to the notifications service. Endpoint secrets are write-only there: no answer carries one but
the creation of a webhook endpoint that came without a secret (the one made for it, shown once).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.deliveries import (
    DeliveryDetail, DeliveryPage, DeliveryQuery, EndpointCreate, EndpointCreated, EndpointHealth, EndpointList,
    EndpointPublic, EndpointUpdate, RedriveEndpoint, Redriven,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, AgentUser, RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(tags=["notifications"], route_class=RoleRoute)
notifications = Passage("notifications", "/api/v1")


# -- endpoints -------------------------------------------------------------------------------------------------

@router.get("/endpoints", response_model=EndpointList, summary="Every notification endpoint, by name (no secrets)")
async def list_notification_endpoints(request: Request, runtime: RuntimeDep, user: AdminUser) -> dict:
    return await notifications.read(runtime, request, "/endpoints")


@router.post("/endpoints", response_model=EndpointCreated, status_code=201,
             summary="Add a notification endpoint: slack, teams, webhook (signed), pagerduty, jira",
             description="A webhook endpoint created without a secret gets a Standard Webhooks secret (whsec_...), "
                         "returned in this answer only. Secrets are never returned afterwards.")
async def create_notification_endpoint(body: EndpointCreate, runtime: RuntimeDep, user: AdminUser,
                                       response: Response) -> dict:
    return await notifications.send(runtime, response, "POST", "/endpoints", body, actor=user)


@router.get("/endpoints/{endpoint_id}", response_model=EndpointPublic, summary="A notification endpoint (no secrets)")
async def get_notification_endpoint(endpoint_id: Ident, request: Request, runtime: RuntimeDep, user: AdminUser,
                                    response: Response) -> dict:
    return await notifications.read(runtime, request, f"/endpoints/{endpoint_id}", response)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointPublic,
              summary="Change a notification endpoint (a new url resets its circuit breaker)")
async def update_notification_endpoint(endpoint_id: Ident, body: EndpointUpdate, runtime: RuntimeDep,
                                       user: AdminUser, response: Response, if_match: IfMatchHeader = None) -> dict:
    return await notifications.send(runtime, response, "PATCH", f"/endpoints/{endpoint_id}", body, actor=user,
                                    if_match=if_match)


@router.delete("/endpoints/{endpoint_id}", status_code=204, response_class=Response,
               summary="Remove a notification endpoint (its deliveries stay in the log)")
async def delete_notification_endpoint(endpoint_id: Ident, runtime: RuntimeDep, user: AdminUser, response: Response,
                                       if_match: IfMatchHeader = None) -> Response:
    await notifications.send(runtime, response, "DELETE", f"/endpoints/{endpoint_id}", None, actor=user,
                             if_match=if_match)
    return Response(status_code=204)


@router.get("/endpoints/{endpoint_id}/health", response_model=EndpointHealth,
            summary="A notification endpoint's circuit breaker, pending and dead deliveries")
async def get_notification_endpoint_health(endpoint_id: Ident, request: Request, runtime: RuntimeDep,
                                           user: AdminUser) -> dict:
    return await notifications.read(runtime, request, f"/endpoints/{endpoint_id}/health")


# -- the delivery log and redrive ------------------------------------------------------------------------------

@router.get("/deliveries", response_model=DeliveryPage,
            summary="The notification delivery log, newest first: by record, endpoint, state, recipient, event")
async def list_deliveries(request: Request, runtime: RuntimeDep, user: AgentUser,
                          query: Annotated[DeliveryQuery, Query()]) -> dict:
    return await notifications.read(runtime, request, "/deliveries")


@router.post("/deliveries/redrive", response_model=Redriven,
             summary="Put a notification endpoint's dead deliveries back to pending (up to 1000 a call)")
async def redrive_endpoint_deliveries(body: RedriveEndpoint, runtime: RuntimeDep, user: AdminUser,
                                      response: Response) -> dict:
    return await notifications.send(runtime, response, "POST", "/deliveries/redrive", body, actor=user)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail,
            summary="A notification delivery and every attempt made of it")
async def get_delivery(delivery_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await notifications.read(runtime, request, f"/deliveries/{delivery_id}")


@router.post("/deliveries/{delivery_id}/redrive", response_model=DeliveryDetail,
             summary="Put a dead notification delivery back to pending, due now (409 if it is not dead)")
async def redrive_delivery(delivery_id: Ident, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await notifications.send(runtime, response, "POST", f"/deliveries/{delivery_id}/redrive", None,
                                    actor=user)
