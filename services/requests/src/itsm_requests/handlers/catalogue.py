"""The catalogue's use cases: admins keep categories and items (an item's form and flow versioned), requesters
browse what they may order, agents see it all.

Who may see what: `orderable_by` is the caller's token groups when the caller is a requester (the gateway says so),
None for those who see everything. A requester asking for an item they may not order (or a retired one) gets the
404 of an item that does not exist: the catalogue does not tell them what others may order.
"""

from __future__ import annotations

import uuid
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict, InvalidValue
from itsm_kit.errors import check_version, found, not_found
from itsm_kit.records import AggregateRepository, revise
from itsm_kit.unit_of_work import UnitOfWork
from itsm_requests.domain.catalogue import CatalogItem, Category, ItemVersion
from itsm_requests.domain.forms import DEFAULT_MAX_FORM_BYTES
from itsm_requests.store.catalogue import CategoryRepository, ItemRepository

ITEM = "catalogue item"
CATEGORY = "catalogue category"


# -- categories ------------------------------------------------------------------------------------------------

async def list_categories(uow: UnitOfWork, *, limit: int, cursor: str | None,
                          orderable_by: frozenset[str] | None = None) -> tuple[list[Category], str | None]:
    async with uow:
        return await CategoryRepository(uow.session).page(limit=limit, cursor=cursor, orderable_by=orderable_by)


async def create_category(uow: UnitOfWork, **fields: Any) -> Category:
    async with uow:
        repo = CategoryRepository(uow.session)
        category = Category.create(id=str(uuid.uuid4()), at=utcnow(), **fields)
        await _unique_category_name(repo, category)
        await repo.add(category)
        await uow.commit()
    return category


async def update_category(uow: UnitOfWork, category_id: str, changes: dict[str, Any], *,
                          if_match: int | None = None) -> Category:
    return await revise(uow, CategoryRepository, category_id, if_match, lambda c: c.update(changes, utcnow()),
                        before_save=_unique_category_name)


async def delete_category(uow: UnitOfWork, category_id: str, *, if_match: int | None = None) -> None:
    """Only an empty category goes (items are retired, never deleted: a category with any keeps them)."""
    async with uow:
        repo = CategoryRepository(uow.session)
        await _locked(uow, repo, category_id, if_match)  # held to the end: no item joins it meanwhile
        if count := await repo.item_count(category_id):
            raise Conflict(f"{CATEGORY} {category_id} has {count} items (retired ones included); move them to "
                           "another category first", items=count)
        await repo.remove(category_id)
        await uow.commit()


async def _unique_category_name(repo: CategoryRepository, category: Category) -> None:
    if (other := await repo.holder(category)) is not None:
        raise Conflict(f"there is already a {CATEGORY} named {category.name}", name=category.name,
                       category_id=other.id)


# -- items -----------------------------------------------------------------------------------------------------

async def list_items(uow: UnitOfWork, *, limit: int, cursor: str | None, q: str | None = None,
                     category_id: str | None = None, active: bool | None = None,
                     orderable_by: frozenset[str] | None = None) -> tuple[list[CatalogItem], str | None]:
    async with uow:
        return await ItemRepository(uow.session).page(limit=limit, cursor=cursor, q=q, category_id=category_id,
                                                      active=active, orderable_by=orderable_by)


async def get_item(uow: UnitOfWork, item_id: str, *, orderable_by: frozenset[str] | None = None) -> CatalogItem:
    async with uow:
        item = found(await ItemRepository(uow.session).get(item_id), ITEM, item_id)
    if orderable_by is not None and not (item.active and item.may_be_ordered_by(orderable_by)):
        raise not_found(ITEM, item_id)
    return item


async def get_item_version(uow: UnitOfWork, item_id: str, form_version: int) -> ItemVersion:
    async with uow:
        return found(await ItemRepository(uow.session).version(item_id, form_version), f"version {form_version} of "
                     f"{ITEM}", item_id)


async def create_item(uow: UnitOfWork, *, actor: str, max_form_bytes: int = DEFAULT_MAX_FORM_BYTES,
                      **fields: Any) -> CatalogItem:
    """The item and its form's version 1."""
    item = CatalogItem.create(id=str(uuid.uuid4()), at=utcnow(), actor=actor, max_form_bytes=max_form_bytes,
                              **fields)
    async with uow:
        repo = ItemRepository(uow.session)
        await _item_rules(repo, item)
        await repo.add(item)
        await repo.add_version(item.current_version())
        await uow.commit()
    return item


async def update_item(uow: UnitOfWork, item_id: str, changes: dict[str, Any], *, actor: str,
                      if_match: int | None = None, max_form_bytes: int = DEFAULT_MAX_FORM_BYTES) -> CatalogItem:
    """A new form or flow is kept as the next form_version, with who made it and when; other changes make none."""
    async with uow:
        repo = ItemRepository(uow.session)
        item = await _locked(uow, repo, item_id, if_match)
        loaded, form_version = item.version, item.form_version
        item.update(changes, utcnow(), actor=actor, max_form_bytes=max_form_bytes)
        if item.version != loaded:
            await _item_rules(repo, item)
            await repo.save(item, loaded)
            if item.form_version != form_version:
                await repo.add_version(item.current_version())
            await uow.commit()
    return item


async def _item_rules(repo: ItemRepository, item: CatalogItem) -> None:
    """Across records: a unique name, and a category that exists."""
    if (other := await repo.holder(item)) is not None:
        raise Conflict(f"there is already a {ITEM} named {item.name}", name=item.name, item_id=other.id)
    if await CategoryRepository(repo.session).get(item.category_id) is None:
        raise InvalidValue(f"there is no {CATEGORY} {item.category_id}", category_id=item.category_id)



async def _locked(uow: UnitOfWork, repo: AggregateRepository, ident: str, if_match: int | None) -> Any:
    """The record, locked to the end of the transaction; 404 when there is none, 412 when If-Match is stale."""
    record = found(await repo.get(ident, for_update=True), repo.noun, ident)
    check_version(repo.noun, ident, record.version, if_match)
    return record
