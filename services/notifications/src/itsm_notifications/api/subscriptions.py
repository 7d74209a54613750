"""Subscriptions and message templates, with preview (issue 16: pipeline helper)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from itsm_contracts.api.subscriptions import (
    RenderedMessage, SubscriptionCreate, SubscriptionPage, SubscriptionPublic, SubscriptionQuery,
    SubscriptionUpdate, TemplateList, TemplatePreview, TemplatePublic, TemplateSample, TemplateWrite,
)
from itsm_kit.api import Ident, IfMatch, answer, tag
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_notifications.domain.templates import Template
from itsm_notifications.handlers import subscriptions as handlers

router = APIRouter(tags=["subscriptions"])
TemplateName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                   description="a template's name (an event type's name: its default)")]


@router.get("/subscriptions", response_model=SubscriptionPage, summary="Subscriptions by name (cursor pagination)")
async def list_subscriptions(uow: UnitOfWorkDep, query: Annotated[SubscriptionQuery, Query()]) -> SubscriptionPage:
    items, next_cursor = await handlers.list_subscriptions(uow, **query.model_dump())
    return SubscriptionPage(items=[SubscriptionPublic.model_validate(s, from_attributes=True) for s in items],
                            next_cursor=next_cursor)


@router.post("/subscriptions", response_model=SubscriptionPublic, status_code=201, summary="Add a subscription")
async def create_subscription(body: SubscriptionCreate, uow: UnitOfWorkDep, response: Response) -> SubscriptionPublic:
    subscription = await retrying(lambda: handlers.create_subscription(uow, **body.model_dump()))
    response.headers["Location"] = f"/subscriptions/{subscription.id}"
    return answer(response, SubscriptionPublic, subscription)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionPublic, summary="A subscription")
async def get_subscription(subscription_id: Ident, uow: UnitOfWorkDep, response: Response) -> SubscriptionPublic:
    return answer(response, SubscriptionPublic, await handlers.get_subscription(uow, subscription_id))


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionPublic,
              summary="Change a subscription (If-Match)")
async def update_subscription(subscription_id: Ident, body: SubscriptionUpdate, uow: UnitOfWorkDep,
                              response: Response, if_match: IfMatch) -> SubscriptionPublic:
    subscription = await retrying(lambda: handlers.update_subscription(uow, subscription_id, body.changes(),
                                                                       if_match=if_match))
    return answer(response, SubscriptionPublic, subscription)


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Remove a subscription (If-Match)")
async def delete_subscription(subscription_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await handlers.delete_subscription(uow, subscription_id, if_match=if_match)
    return Response(status_code=204)


# -- templates ---------------------------------------------------------------------------------------------------

def _template(template: Template, shipped: bool) -> TemplatePublic:
    return TemplatePublic(name=template.name, description=template.description, subject=template.subject,
                          body=template.body, shipped=shipped, created_at=template.created_at,
                          updated_at=template.updated_at, version=template.version)


@router.get("/templates", response_model=TemplateList,
            summary="Every template: the stored ones and the shipped defaults none replaces")
async def list_templates(uow: UnitOfWorkDep) -> TemplateList:
    return TemplateList(items=[_template(t, shipped) for t, shipped in await handlers.list_templates(uow)])


@router.post("/templates/preview", response_model=RenderedMessage, summary="Render a template not saved yet")
async def preview_template(body: TemplatePreview, runtime: RuntimeDep) -> RenderedMessage:
    rendered = handlers.preview(subject=body.subject, body=body.body, event_type=body.event_type, data=body.data,
                                record=body.record.model_dump() if body.record else None,
                                recipient=body.recipient, portal_url=runtime.settings.portal_url)
    return RenderedMessage(subject=rendered.subject, body=rendered.body)


@router.get("/templates/{name}", response_model=TemplatePublic, summary="A template (a shipped default: version 0)")
async def get_template(name: TemplateName, uow: UnitOfWorkDep, response: Response) -> TemplatePublic:
    template, shipped = await handlers.get_template(uow, name)
    tag(response, template.version)
    return _template(template, shipped)


@router.put("/templates/{name}", response_model=TemplatePublic,
            summary="Save a template (201 when new; refused with 422 unless it renders)")
async def save_template(name: TemplateName, body: TemplateWrite, uow: UnitOfWorkDep, response: Response,
                        if_match: IfMatch) -> TemplatePublic:
    template, created = await retrying(lambda: handlers.save_template(uow, name, **body.model_dump(),
                                                                      if_match=if_match))
    if created:
        response.status_code = 201
        response.headers["Location"] = f"/templates/{name}"
    tag(response, template.version)
    return _template(template, False)


@router.delete("/templates/{name}", status_code=204,
               summary="Remove a stored template (an event type's shipped default applies again)")
async def delete_template(name: TemplateName, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await handlers.delete_template(uow, name, if_match=if_match)
    return Response(status_code=204)


@router.post("/templates/{name}/preview", response_model=RenderedMessage, summary="Render a template with a sample")
async def preview_saved_template(name: TemplateName, body: TemplateSample, uow: UnitOfWorkDep,
                                 runtime: RuntimeDep) -> RenderedMessage:
    rendered = await handlers.preview_template(uow, name, event_type=body.event_type, data=body.data,
                                               record=body.record.model_dump() if body.record else None,
                                               recipient=body.recipient, portal_url=runtime.settings.portal_url)
    return RenderedMessage(subject=rendered.subject, body=rendered.body)
