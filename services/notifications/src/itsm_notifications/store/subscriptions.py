"""Subscriptions and stored templates."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, insert, select, update

from itsm_kit.pagination import keyset, page_of
from itsm_kit.records import AggregateRepository, StaleVersion
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

    async def named(self, name: str) -> Subscription | None:
        row = (await self.session.execute(select(subscriptions).where(subscriptions.c.name == name))).first()
        return self.load(row) if row else None

    async def enabled_for(self, event_types: Collection[str]) -> list[Subscription]:
        """The enabled subscriptions to these event types: high urgency first (when two name the same recipient,
        the message goes now), then by name."""
        query = (select(subscriptions).where(subscriptions.c.event_type.in_(list(event_types)),
                                             subscriptions.c.enabled)
                 .order_by(subscriptions.c.urgency, subscriptions.c.name))  # "high" < "low"
        return [self.load(r) for r in (await self.session.execute(query)).all()]


class TemplateRepository:
    def __init__(self, session):
        self.session = session

    @staticmethod
    def _load(row) -> Template:
        return Template(name=row.name, description=row.description, subject=row.subject, body=row.body,
                        created_at=row.created_at, updated_at=row.updated_at, version=row.version)

    async def get(self, name: str, *, for_update: bool = False) -> Template | None:
        query = select(templates).where(templates.c.name == name)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        return self._load(row) if row else None

    async def named(self, names: Collection[str]) -> dict[str, Template]:
        if not names:
            return {}
        rows = await self.session.execute(select(templates).where(templates.c.name.in_(list(names))))
        return {(t := self._load(r)).name: t for r in rows.all()}

    async def all(self) -> list[Template]:
        rows = await self.session.execute(select(templates).order_by(templates.c.name))
        return [self._load(r) for r in rows.all()]

    def _row(self, template: Template) -> dict:
        return {"name": template.name, "description": template.description, "subject": template.subject,
                "body": template.body, "created_at": template.created_at, "updated_at": template.updated_at,
                "version": template.version}

    async def add(self, template: Template) -> None:
        await self.session.execute(insert(templates).values(self._row(template)))

    async def save(self, template: Template, loaded_version: int) -> None:
        result = await self.session.execute(
            update(templates).where(templates.c.name == template.name, templates.c.version == loaded_version)
            .values(self._row(template)))
        if result.rowcount != 1:
            raise StaleVersion("template", template.name)

    async def remove(self, name: str) -> None:
        await self.session.execute(delete(templates).where(templates.c.name == name))
