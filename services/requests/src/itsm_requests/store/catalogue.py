"""The catalogue's store: categories, items and their form versions, and what the requests part reads to order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.db import matching
from itsm_kit.pagination import keyset, page_of
from itsm_kit.records import AggregateRepository
from itsm_requests.domain.catalogue import CatalogItem, Category, ItemVersion, Orderable
from itsm_requests.domain.flows import flow_from_json
from itsm_requests.store.tables import catalog_categories, catalog_item_versions, catalog_items


def _orderable_by(groups: frozenset[str] | None) -> Any:
    """Items these groups may order (active, naming none of their groups or one of them); None: no filter."""
    if groups is None:
        return None
    open_to = func.cardinality(catalog_items.c.groups) == 0
    if groups:
        theirs = bindparam("orderable_by", sorted(groups), type_=catalog_items.c.groups.type)
        open_to = or_(open_to, catalog_items.c.groups.op("&&")(theirs))  # overlap
    return and_(catalog_items.c.active, open_to)


class CategoryRepository(AggregateRepository[Category]):
    table, aggregate, noun = catalog_categories, Category, "catalogue category"

    async def page(self, *, limit: int, cursor: str | None, orderable_by: frozenset[str] | None = None
                   ) -> tuple[list[Category], str | None]:
        """In catalogue order (position, then id), a page at a time; `orderable_by`: only those with an item these
        groups may order."""
        query = select(catalog_categories)
        if (orderable := _orderable_by(orderable_by)) is not None:
            query = query.where(exists(select(catalog_items.c.id).where(
                catalog_items.c.category_id == catalog_categories.c.id, orderable)))
        query = keyset(query, (catalog_categories.c.position, catalog_categories.c.id), descending=False,
                       limit=limit, cursor=cursor, sort="position")
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda c: (c.position, c.id), sort="position")

    async def item_count(self, category_id: str) -> int:
        """Its items, retired ones included."""
        return await self.session.scalar(select(func.count()).where(catalog_items.c.category_id == category_id))


class ItemRepository(AggregateRepository[CatalogItem]):
    table, aggregate, noun = catalog_items, CatalogItem, "catalogue item"

    def load(self, row: Any) -> CatalogItem:
        item = super().load(row)
        item.groups = list(item.groups)
        return item

    async def page(self, *, limit: int, cursor: str | None, q: str | None = None, category_id: str | None = None,
                   active: bool | None = None, orderable_by: frozenset[str] | None = None
                   ) -> tuple[list[CatalogItem], str | None]:
        """By name, a page at a time; `q` matches a part of the name or descriptions; `orderable_by`: only the
        active items these groups may order."""
        query = select(catalog_items)
        if q:
            query = query.where(matching(q, catalog_items.c.name, catalog_items.c.short_description,
                                         catalog_items.c.description))
        if category_id is not None:
            query = query.where(catalog_items.c.category_id == category_id)
        if active is not None:
            query = query.where(catalog_items.c.active == active)
        if (orderable := _orderable_by(orderable_by)) is not None:
            query = query.where(orderable)
        query = keyset(query, (catalog_items.c.name, catalog_items.c.id), descending=False, limit=limit,
                       cursor=cursor, sort="name")
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda i: (i.name, i.id), sort="name")

    async def add_version(self, version: ItemVersion) -> None:
        await self.session.execute(insert(catalog_item_versions).values(**version.__dict__))

    async def version(self, item_id: str, form_version: int) -> ItemVersion | None:
        row = (await self.session.execute(select(catalog_item_versions).where(
            catalog_item_versions.c.item_id == item_id,
            catalog_item_versions.c.form_version == form_version))).first()
        return ItemVersion(**row._mapping) if row else None


async def orderable(session: AsyncSession, item_ids: Iterable[str]) -> dict[str, Orderable]:
    """The items with these ids as they may be ordered now (current form and flow; retired ones too, active=false:
    the caller refuses them); ids of no item are absent. One query."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    query = (select(catalog_items, catalog_categories.c.name.label("category_name"))
             .select_from(catalog_items.outerjoin(catalog_categories,
                                                  catalog_categories.c.id == catalog_items.c.category_id))
             .where(catalog_items.c.id.in_(ids)))
    found: dict[str, Orderable] = {}
    for row in (await session.execute(query)).all():
        found[row.id] = Orderable(
            id=row.id, name=row.name, category=row.category_name, active=row.active, groups=frozenset(row.groups),
            form_version=row.form_version, form=row.form, flow=flow_from_json(row.flow), price=row.price,
            currency=row.currency, response_target_minutes=row.response_target_minutes,
            fulfilment_target_minutes=row.fulfilment_target_minutes, delivery_hours=row.delivery_hours,
            short_description=row.short_description)
    return found
