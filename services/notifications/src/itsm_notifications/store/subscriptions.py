"""Subscriptions and stored templates."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from itsm_kit.pagination import keyset, page_of
from itsm_kit.records import AggregateRepository
from itsm_notifications.domain.subscriptions import Subscription
from itsm_notifications.domain.templates import Template
from itsm_notifications.store.tables import subscriptions, templates


class SubscriptionRepository(AggregateRepository[Subscription]):
    table, aggregate, noun = subscriptions, Subscription, "subscription"

    async def page(self, *, limit: int, cursor: str | None, event_type: str | None = None,
                   enabled: bool | None = None) -> tuple[list[Subscription], str | None]:
        """By name (unique), then id."""
        query = select(subscriptions)
        if event_type is not None:
            query = query.where(subscriptions.c.event_type == event_type)
        if enabled is not None:
            query = query.where(subscriptions.c.enabled == enabled)
        query = keyset(query, (subscriptions.c.name, subscriptions.c.id), descending=False, limit=limit,
                       cursor=cursor, sort="name")
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda s: (s.name, s.id), sort="name")

    async def subscribed_types(self) -> set[str]:
        """The event types enabled subscriptions name."""
        query = select(subscriptions.c.event_type).where(subscriptions.c.enabled).distinct()
        return set((await self.session.execute(query)).scalars())

    async def enabled_for(self, event_types: Collection[str]) -> list[Subscription]:
        """The enabled subscriptions to these event types: high urgency first (when two name the same recipient,
        the message goes now), then by name."""
        query = (select(subscriptions).where(subscriptions.c.event_type.in_(list(event_types)),
                                             subscriptions.c.enabled)
                 .order_by(subscriptions.c.urgency, subscriptions.c.name))  # "high" < "low"
        return [self.load(r) for r in (await self.session.execute(query)).all()]


class TemplateRepository(AggregateRepository[Template]):
    table, aggregate, noun, key = templates, Template, "template", "name"

    async def named(self, names: Collection[str]) -> dict[str, Template]:
        if not names:
            return {}
        rows = await self.session.execute(select(templates).where(templates.c.name.in_(list(names))))
        return {(t := self.load(r)).name: t for r in rows.all()}

    async def all(self) -> list[Template]:
        rows = await self.session.execute(select(templates).order_by(templates.c.name))
        return [self.load(r) for r in rows.all()]
