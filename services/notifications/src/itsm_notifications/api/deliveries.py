"""Endpoints, the delivery log and redrive (issue 16: delivery helper)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.deliveries import (
    DeliveryDetail, DeliveryPage, DeliveryPublic, DeliveryQuery, EndpointCreate, EndpointCreated, EndpointHealth,
    EndpointList, EndpointPublic, EndpointUpdate, RedriveEndpoint, Redriven,
)
from itsm_kit.api import Ident, IfMatch, tag
from itsm_kit.runtime import UnitOfWorkDep
from itsm_notifications.domain.endpoints import Endpoint
from itsm_notifications.handlers import deliveries as handlers
from itsm_notifications.handlers import endpoints as endpoint_handlers

router = APIRouter(tags=["deliveries"])


def public(endpoint: Endpoint, response: Response | None = None) -> EndpointPublic:
    """Secrets are never read back: only whether one is set."""
    if response is not None:
        tag(response, endpoint.version)
    return EndpointPublic(id=endpoint.id, name=endpoint.name, kind=endpoint.kind.value, url=endpoint.url,
                          has_secret=endpoint.secret is not None,
                          has_inbound_secret=endpoint.inbound_secret is not None,
                          options=endpoint.options, enabled=endpoint.enabled, created_at=endpoint.created_at,
                          updated_at=endpoint.updated_at, version=endpoint.version)


@router.get("/endpoints", response_model=EndpointList, summary="Every endpoint, by name")
async def list_endpoints(uow: UnitOfWorkDep) -> EndpointList:
    return EndpointList(items=[public(e) for e in await endpoint_handlers.list_endpoints(uow)])


@router.post("/endpoints", response_model=EndpointCreated, status_code=201,
             summary="Add an endpoint (a webhook without a secret gets one, shown only in this answer)")
async def create_endpoint(body: EndpointCreate, uow: UnitOfWorkDep, response: Response) -> EndpointCreated:
    endpoint, made = await endpoint_handlers.create_endpoint(uow, **body.model_dump())
    response.headers["Location"] = f"/endpoints/{endpoint.id}"
    return EndpointCreated(**public(endpoint, response).model_dump(), secret=made)


@router.get("/endpoints/{endpoint_id}", response_model=EndpointPublic, summary="An endpoint (no secrets)")
async def get_endpoint(endpoint_id: Ident, uow: UnitOfWorkDep, response: Response) -> EndpointPublic:
    return public(await endpoint_handlers.get_endpoint(uow, endpoint_id), response)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointPublic,
              summary="Change an endpoint (a new url closes its breaker: another receiver)")
async def update_endpoint(endpoint_id: Ident, body: EndpointUpdate, uow: UnitOfWorkDep, response: Response,
                          if_match: IfMatch) -> EndpointPublic:
    endpoint = await endpoint_handlers.update_endpoint(uow, endpoint_id, body.changes(), if_match=if_match)
    return public(endpoint, response)


@router.delete("/endpoints/{endpoint_id}", status_code=204,
               summary="Remove an endpoint (its deliveries stay in the log; pending ones die)")
async def delete_endpoint(endpoint_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await endpoint_handlers.delete_endpoint(uow, endpoint_id, if_match=if_match)
    return Response(status_code=204)


@router.get("/endpoints/{endpoint_id}/health", response_model=EndpointHealth,
            summary="The endpoint's circuit breaker and the deliveries waiting for it or dead")
async def get_endpoint_health(endpoint_id: Ident, uow: UnitOfWorkDep) -> EndpointHealth:
    return EndpointHealth(**await endpoint_handlers.endpoint_health(uow, endpoint_id))


@router.get("/deliveries", response_model=DeliveryPage,
            summary="The delivery log, newest first: by record, endpoint, state, recipient, event")
async def list_deliveries(uow: UnitOfWorkDep, query: Annotated[DeliveryQuery, Query()]) -> DeliveryPage:
    items, next_cursor = await handlers.list_deliveries(uow, **query.model_dump())
    return DeliveryPage(items=[DeliveryPublic.model_validate(d) for d in items], next_cursor=next_cursor)


@router.post("/deliveries/redrive", response_model=Redriven,
             summary="Put an endpoint's dead deliveries back to pending (a bounded number a call)")
async def redrive_endpoint_deliveries(body: RedriveEndpoint, uow: UnitOfWorkDep) -> Redriven:
    return Redriven(redriven=await handlers.redrive_endpoint(uow, body.endpoint_id))


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, summary="A delivery and its attempts")
async def get_delivery(delivery_id: Ident, uow: UnitOfWorkDep) -> DeliveryDetail:
    return DeliveryDetail.model_validate(await handlers.get_delivery(uow, delivery_id))


@router.post("/deliveries/{delivery_id}/redrive", response_model=DeliveryDetail,
             summary="Put a dead delivery back to pending, due now (its attempts log is kept); 409 if not dead")
async def redrive_delivery(delivery_id: Ident, uow: UnitOfWorkDep) -> DeliveryDetail:
    return DeliveryDetail.model_validate(await handlers.redrive_delivery(uow, delivery_id))
