"""Subscriptions and templates, as admins manage them (through the gateway), and the preview of a template."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict, InvalidValue
from itsm_kit.errors import check_version, found
from itsm_kit.records import remove, revise
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications.domain.subscriptions import EVENT_TYPES, Subscription
from itsm_notifications.domain.templates import (
    DEFAULTS, SAMPLE_RECORD, SAMPLE_TIME, Rendered, Template, check_template, context, render, sample_data,
)
from itsm_notifications.handlers.pipeline import record_url
from itsm_notifications.store.endpoints import EndpointRepository
from itsm_notifications.store.subscriptions import SubscriptionRepository, TemplateRepository


async def _checked(repo: SubscriptionRepository, subscription: Subscription) -> None:
    """Across records: a unique name, a template that exists, an endpoint that exists and is of the channel's
    kind."""
    other = await repo.find(name=subscription.name)
    if other is not None and other.id != subscription.id:
        raise Conflict(f"a subscription named {subscription.name!r} exists already", field="name",
                       existing_id=other.id)
    if subscription.template is not None and subscription.template not in DEFAULTS \
            and await TemplateRepository(repo.session).get(subscription.template) is None:
        raise InvalidValue(f"template {subscription.template!r} is neither saved nor shipped", field="template")
    if subscription.endpoint_id is not None:
        endpoint = await EndpointRepository(repo.session).get(subscription.endpoint_id)
        if endpoint is None:
            raise InvalidValue(f"endpoint_id {subscription.endpoint_id} names no endpoint", field="endpoint_id")
        if str(endpoint.kind) != subscription.channel:
            raise InvalidValue(f"endpoint {endpoint.name} is a {endpoint.kind} endpoint, not one for channel "
                               f"{subscription.channel}", field="endpoint_id")


async def list_subscriptions(uow: UnitOfWork, *, limit: int, cursor: str | None, event_type: str | None = None,
                             enabled: bool | None = None) -> tuple[list[Subscription], str | None]:
    async with uow:
        return await SubscriptionRepository(uow.session).page(limit=limit, cursor=cursor, event_type=event_type,
                                                              enabled=enabled)


async def get_subscription(uow: UnitOfWork, subscription_id: str) -> Subscription:
    async with uow:
        return found(await SubscriptionRepository(uow.session).get(subscription_id), "subscription", subscription_id)


async def create_subscription(uow: UnitOfWork, **fields: Any) -> Subscription:
    async with uow:
        subscription = Subscription.create(id=str(uuid.uuid4()), at=utcnow(), **fields)
        repo = SubscriptionRepository(uow.session)
        await _checked(repo, subscription)
        await repo.add(subscription)
        await uow.commit()
    return subscription


async def update_subscription(uow: UnitOfWork, subscription_id: str, changes: dict[str, Any], *,
                              if_match: int | None = None) -> Subscription:
    return await revise(uow, SubscriptionRepository, subscription_id, if_match,
                        lambda s: s.update(changes, utcnow()), before_save=_checked)


async def delete_subscription(uow: UnitOfWork, subscription_id: str, *, if_match: int | None = None) -> None:
    await remove(uow, SubscriptionRepository, subscription_id, if_match)


# -- templates ---------------------------------------------------------------------------------------------------

def shipped(name: str) -> Template | None:
    """The shipped default of an event type, as a template not stored (version 0)."""
    if name not in DEFAULTS:
        return None
    subject, body = DEFAULTS[name]
    return Template(name=name, description=f"shipped default for {name}", subject=subject, body=body,
                    created_at=None, updated_at=None, version=0)  # type: ignore[arg-type]


async def list_templates(uow: UnitOfWork) -> list[tuple[Template, bool]]:
    """Stored templates and the shipped defaults none replaces, by name; (template, shipped) each."""
    async with uow:
        stored = await TemplateRepository(uow.session).all()
    names = {t.name for t in stored}
    everything = [(t, False) for t in stored] + [(shipped(n), True) for n in DEFAULTS if n not in names]
    return sorted(everything, key=lambda pair: pair[0].name)


async def get_template(uow: UnitOfWork, name: str) -> tuple[Template, bool]:
    async with uow:
        stored = await TemplateRepository(uow.session).get(name)
    if stored is not None:
        return stored, False
    return found(shipped(name), "template", name), True


async def save_template(uow: UnitOfWork, name: str, *, description: str, subject: str, body: str,
                        if_match: int | None = None) -> tuple[Template, bool]:
    """Created (True) or replaced (False). Refused (422) unless it renders with sample data of its event type (the
    template's name when it is one)."""
    check_template(subject, body, name if name in EVENT_TYPES else None)
    async with uow:
        repo = TemplateRepository(uow.session)
        now = utcnow()
        template = await repo.get(name, for_update=True)
        if template is None:
            if if_match not in (None, 0):  # 0: the shipped default's ETag
                check_version("template", name, 0, if_match)
            template = Template(name=name, description=description, subject=subject, body=body, created_at=now,
                                updated_at=now)
            await repo.add(template)
            await uow.commit()
            return template, True
        check_version("template", name, template.version, if_match)
        loaded = template.version
        if template.replace(description=description, subject=subject, body=body, at=now):
            await repo.save(template, loaded)
            await uow.commit()
        return template, False


async def delete_template(uow: UnitOfWork, name: str, *, if_match: int | None = None) -> None:
    """The stored template goes (a shipped default it replaced is used again)."""
    await remove(uow, TemplateRepository, name, if_match)


def preview(*, subject: str, body: str, event_type: str, data: Mapping[str, Any] | None,
            record: Mapping[str, Any] | None, recipient: str | None, portal_url: str) -> Rendered:
    """A template rendered with a sample (no data given: every field of the event type's contract filled in)."""
    if event_type not in EVENT_TYPES:
        raise InvalidValue(f"event_type {event_type!r} is not an event the service hears of", field="event_type")
    record = dict(record) if record is not None else None
    return render(subject, body, context(
        event_type=event_type, time=SAMPLE_TIME, data=data if data is not None else sample_data(event_type),
        record=record, url=record_url(portal_url, record or SAMPLE_RECORD), recipient=recipient,
        event_id="00000000-0000-4000-8000-000000000000"))


async def preview_template(uow: UnitOfWork, name: str, *, event_type: str | None, data: Mapping[str, Any] | None,
                           record: Mapping[str, Any] | None, recipient: str | None, portal_url: str) -> Rendered:
    template, _ = await get_template(uow, name)
    event_type = event_type or (name if name in EVENT_TYPES else None)
    if event_type is None:
        raise InvalidValue("name the event_type to render this template with", field="event_type")
    return preview(subject=template.subject, body=template.body, event_type=event_type, data=data, record=record,
                   recipient=recipient, portal_url=portal_url)

