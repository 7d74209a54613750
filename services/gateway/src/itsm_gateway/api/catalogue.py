"""catalogue through the gateway (issue 17): thin pass-throughs to the requests service, roles checked here.

Requesters browse what they may order: their reads go upstream with `orderable=true` (set here, whatever they
sent), so the requests service narrows them to active items their token groups may order, and answers 404 for any
other item. Agents and admins see the whole catalogue, retired items included. Admins keep it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from itsm_contracts.api.catalogue import (
    CategoryCreate, CategoryPage, CategoryPublic, CategoryQuery, CategoryUpdate, ItemCreate, ItemPage, ItemPublic,
    ItemQuery, ItemUpdate, ItemVersionPublic,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, AgentUser, RequesterUser, RoleRoute, User, works
from itsm_gateway.upstream import Passage

router = APIRouter(tags=["catalogue"], route_class=RoleRoute)
requests_service = Passage("requests", "/api/v1")
FormVersion = Annotated[int, Path(ge=1, le=1_000_000_000, description="a version of the item's form and flow")]
ORDERABLE = "orderable"  # the requests service's flag: only what the caller may order


def _scoped(user: User, request: Request) -> list[tuple[str, str]]:
    """The query as sent, but whether it is narrowed to what the caller may order is the gateway's to say."""
    params = [(name, value) for name, value in request.query_params.multi_items() if name != ORDERABLE]
    return params if works(user) else [*params, (ORDERABLE, "true")]


# -- categories ------------------------------------------------------------------------------------------------

@router.get("/catalog/categories", response_model=CategoryPage,
            summary="Catalogue categories in order (a requester's: those holding an item they may order)")
async def list_catalog_categories(request: Request, runtime: RuntimeDep, user: RequesterUser,
                                  query: Annotated[CategoryQuery, Query()]) -> dict:
    return await requests_service.read(runtime, request, "/catalog/categories", params=_scoped(user, request))


@router.post("/catalog/categories", response_model=CategoryPublic, status_code=201,
             summary="Add a catalogue category")
async def create_catalog_category(body: CategoryCreate, runtime: RuntimeDep, user: AdminUser,
                                  response: Response) -> dict:
    return await requests_service.send(runtime, response, "POST", "/catalog/categories", body, actor=user)


@router.patch("/catalog/categories/{category_id}", response_model=CategoryPublic,
              summary="Change a catalogue category: name, description, position")
async def update_catalog_category(category_id: Ident, body: CategoryUpdate, runtime: RuntimeDep, user: AdminUser,
                                  response: Response, if_match: IfMatchHeader = None) -> dict:
    return await requests_service.send(runtime, response, "PATCH", f"/catalog/categories/{category_id}", body,
                                       actor=user, if_match=if_match)


@router.delete("/catalog/categories/{category_id}", status_code=204, response_class=Response,
               summary="Remove a catalogue category that holds no item (409 otherwise)")
async def delete_catalog_category(category_id: Ident, runtime: RuntimeDep, user: AdminUser, response: Response,
                                  if_match: IfMatchHeader = None) -> Response:
    await requests_service.send(runtime, response, "DELETE", f"/catalog/categories/{category_id}", None, actor=user,
                                if_match=if_match)
    return Response(status_code=204)


# -- items -----------------------------------------------------------------------------------------------------

@router.get("/catalog/items", response_model=ItemPage,
            summary="Catalogue items by name: search (q), by category (a requester's: only what they may order)")
async def list_catalog_items(request: Request, runtime: RuntimeDep, user: RequesterUser,
                             query: Annotated[ItemQuery, Query()]) -> dict:
    return await requests_service.read(runtime, request, "/catalog/items", params=_scoped(user, request))


@router.post("/catalog/items", response_model=ItemPublic, status_code=201,
             summary="Add a catalogue item with its form (JSON Schema) and fulfilment flow")
async def create_catalog_item(body: ItemCreate, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await requests_service.send(runtime, response, "POST", "/catalog/items", body, actor=user)


@router.get("/catalog/items/{item_id}", response_model=ItemPublic,
            summary="A catalogue item and its form (version = ETag); 404 to a requester who may not order it")
async def get_catalog_item(item_id: Ident, request: Request, runtime: RuntimeDep, user: RequesterUser,
                           response: Response) -> dict:
    return await requests_service.read(runtime, request, f"/catalog/items/{item_id}", response,
                                       params=_scoped(user, request))


@router.patch("/catalog/items/{item_id}", response_model=ItemPublic,
              summary="Change a catalogue item (a new form or flow is its next form_version; retire with "
                      "active=false)")
async def update_catalog_item(item_id: Ident, body: ItemUpdate, runtime: RuntimeDep, user: AdminUser,
                              response: Response, if_match: IfMatchHeader = None) -> dict:
    return await requests_service.send(runtime, response, "PATCH", f"/catalog/items/{item_id}", body, actor=user,
                                       if_match=if_match)


@router.get("/catalog/items/{item_id}/versions/{form_version}", response_model=ItemVersionPublic,
            summary="One version of a catalogue item's form and flow (what requests ordered with it were checked "
                    "against)")
async def get_catalog_item_version(item_id: Ident, form_version: FormVersion, request: Request, runtime: RuntimeDep,
                                   user: AgentUser) -> dict:
    return await requests_service.read(runtime, request, f"/catalog/items/{item_id}/versions/{form_version}",
                                       params=[])
