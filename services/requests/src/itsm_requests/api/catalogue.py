"""The service catalogue (issue 17, catalogue helper): categories, items with their form and flow, form versions.

`orderable=true` (set by the gateway for requesters; a caller cannot reach this service without the gateway's
signature) narrows every read to what the caller's token groups may order: active items open to them, categories
holding one; any other item is a 404 to them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from itsm_contracts.api.catalogue import (
    CategoryCreate, CategoryPage, CategoryPublic, CategoryQuery, CategoryUpdate, ItemCreate, ItemPage, ItemPublic,
    ItemQuery, ItemSummary, ItemUpdate, ItemVersionPublic,
)
from itsm_kit.api import Actor, ActorGroups, Ident, IfMatch, answer
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_requests.handlers import catalogue as handlers

router = APIRouter(tags=["catalogue"])
Orderable = Annotated[bool, Query(description="only what the caller's groups may order (the gateway sets it for "
                                              "requesters)")]
FormVersion = Annotated[int, Path(ge=1, le=1_000_000_000)]


def _scope(orderable: bool, groups: frozenset[str]) -> frozenset[str] | None:
    return groups if orderable else None


# -- categories ------------------------------------------------------------------------------------------------

@router.get("/catalog/categories", response_model=CategoryPage, summary="Categories in catalogue order")
async def list_categories(uow: UnitOfWorkDep, query: Annotated[CategoryQuery, Query()], groups: ActorGroups,
                          orderable: Orderable = False) -> CategoryPage:
    items, next_cursor = await handlers.list_categories(uow, **query.model_dump(),
                                                        orderable_by=_scope(orderable, groups))
    return CategoryPage(items=[CategoryPublic.model_validate(c, from_attributes=True) for c in items],
                        next_cursor=next_cursor)


@router.post("/catalog/categories", response_model=CategoryPublic, status_code=201, summary="Add a category")
async def create_category(body: CategoryCreate, uow: UnitOfWorkDep, response: Response) -> CategoryPublic:
    category = await retrying(lambda: handlers.create_category(uow, **body.model_dump()))
    response.headers["Location"] = f"/catalog/categories/{category.id}"
    return answer(response, CategoryPublic, category)


@router.patch("/catalog/categories/{category_id}", response_model=CategoryPublic, summary="Change a category")
async def update_category(category_id: Ident, body: CategoryUpdate, uow: UnitOfWorkDep, response: Response,
                          if_match: IfMatch) -> CategoryPublic:
    category = await retrying(lambda: handlers.update_category(uow, category_id, body.changes(), if_match=if_match))
    return answer(response, CategoryPublic, category)


@router.delete("/catalog/categories/{category_id}", status_code=204, summary="Remove an empty category")
async def delete_category(category_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await retrying(lambda: handlers.delete_category(uow, category_id, if_match=if_match))
    return Response(status_code=204)


# -- items -----------------------------------------------------------------------------------------------------

@router.get("/catalog/items", response_model=ItemPage, summary="Items by name: search, by category (cursor pages)")
async def list_items(uow: UnitOfWorkDep, query: Annotated[ItemQuery, Query()], groups: ActorGroups,
                     orderable: Orderable = False) -> ItemPage:
    items, next_cursor = await handlers.list_items(uow, **query.model_dump(), orderable_by=_scope(orderable, groups))
    return ItemPage(items=[ItemSummary.model_validate(i, from_attributes=True) for i in items],
                    next_cursor=next_cursor)


@router.post("/catalog/items", response_model=ItemPublic, status_code=201,
             summary="Add an item (its form and flow are version 1)")
async def create_item(body: ItemCreate, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                      response: Response) -> ItemPublic:
    item = await retrying(lambda: handlers.create_item(uow, actor=actor, max_form_bytes=runtime.settings.max_form_bytes,
                                                       **body.model_dump()))
    response.headers["Location"] = f"/catalog/items/{item.id}"
    return answer(response, ItemPublic, item)


@router.get("/catalog/items/{item_id}", response_model=ItemPublic, summary="An item (version = ETag)")
async def get_item(item_id: Ident, uow: UnitOfWorkDep, response: Response, groups: ActorGroups,
                   orderable: Orderable = False) -> ItemPublic:
    return answer(response, ItemPublic, await handlers.get_item(uow, item_id, orderable_by=_scope(orderable, groups)))


@router.patch("/catalog/items/{item_id}", response_model=ItemPublic,
              summary="Change an item; a new form or flow is its next form_version")
async def update_item(item_id: Ident, body: ItemUpdate, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                      response: Response, if_match: IfMatch) -> ItemPublic:
    item = await retrying(lambda: handlers.update_item(uow, item_id, body.changes(), actor=actor, if_match=if_match,
                                                       max_form_bytes=runtime.settings.max_form_bytes))
    return answer(response, ItemPublic, item)


@router.get("/catalog/items/{item_id}/versions/{form_version}", response_model=ItemVersionPublic,
            summary="One version of an item's form and flow")
async def get_item_version(item_id: Ident, form_version: FormVersion, uow: UnitOfWorkDep) -> ItemVersionPublic:
    version = await handlers.get_item_version(uow, item_id, form_version)
    return ItemVersionPublic.model_validate(version, from_attributes=True)
