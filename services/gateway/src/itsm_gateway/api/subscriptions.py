"""Subscriptions and message templates (admin), with preview. Issue 16, pipeline helper.

Thin pass-throughs to the notifications service: who hears of which events over which channel, and what the
messages say. Admins only (subscriptions name people, groups and endpoints; templates are code admins run).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from itsm_contracts.api.subscriptions import (
    RenderedMessage, SubscriptionCreate, SubscriptionPage, SubscriptionPublic, SubscriptionQuery,
    SubscriptionUpdate, TemplateList, TemplatePreview, TemplatePublic, TemplateSample, TemplateWrite,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, RoleRoute
from itsm_gateway.upstream import Passage, call

router = APIRouter(tags=["notifications"], route_class=RoleRoute)
notifications = Passage("notifications", "/api/v1")
TemplateName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                   description="a template's name (an event type's name: its default)")]


# -- subscriptions -----------------------------------------------------------------------------------------------

@router.get("/subscriptions", response_model=SubscriptionPage,
            summary="Subscriptions by name: by event type, enabled (cursor pagination)")
async def list_subscriptions(request: Request, runtime: RuntimeDep, user: AdminUser,
                             query: Annotated[SubscriptionQuery, Query()]) -> dict:
    return await notifications.read(runtime, request, "/subscriptions")


@router.post("/subscriptions", response_model=SubscriptionPublic, status_code=201,
             summary="Add a subscription: an event type and filter, recipients, a channel")
async def create_subscription(body: SubscriptionCreate, runtime: RuntimeDep, user: AdminUser,
                              response: Response) -> dict:
    return await notifications.send(runtime, response, "POST", "/subscriptions", body, actor=user)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionPublic,
            summary="A subscription (version = ETag)")
async def get_subscription(subscription_id: Ident, request: Request, runtime: RuntimeDep, user: AdminUser,
                           response: Response) -> dict:
    return await notifications.read(runtime, request, f"/subscriptions/{subscription_id}", response)


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionPublic,
              summary="Change a subscription (If-Match), e.g. disable a shipped default")
async def update_subscription(subscription_id: Ident, body: SubscriptionUpdate, runtime: RuntimeDep,
                              user: AdminUser, response: Response, if_match: IfMatchHeader = None) -> dict:
    return await notifications.send(runtime, response, "PATCH", f"/subscriptions/{subscription_id}", body,
                                    actor=user, if_match=if_match)


@router.delete("/subscriptions/{subscription_id}", status_code=204, response_class=Response,
               summary="Remove a subscription")
async def delete_subscription(subscription_id: Ident, runtime: RuntimeDep, user: AdminUser,
                              if_match: IfMatchHeader = None) -> Response:
    await call(runtime, "notifications", "DELETE", f"/subscriptions/{subscription_id}", actor=user,
               headers={"if-match": if_match} if if_match else {})
    return Response(status_code=204)


# -- templates ---------------------------------------------------------------------------------------------------

@router.get("/templates", response_model=TemplateList,
            summary="Message templates: the stored ones and the shipped defaults none replaces")
async def list_notification_templates(request: Request, runtime: RuntimeDep, user: AdminUser) -> dict:
    return await notifications.read(runtime, request, "/templates")


@router.post("/templates/preview", response_model=RenderedMessage,
             summary="Render a template not saved yet with sample data (nothing is sent)")
async def preview_notification_template(body: TemplatePreview, runtime: RuntimeDep, user: AdminUser,
                                        response: Response) -> dict:
    return await notifications.send(runtime, response, "POST", "/templates/preview", body, actor=user)


@router.get("/templates/{name}", response_model=TemplatePublic,
            summary="A message template (version = ETag; a shipped default is version 0)")
async def get_notification_template(name: TemplateName, request: Request, runtime: RuntimeDep, user: AdminUser,
                                    response: Response) -> dict:
    return await notifications.read(runtime, request, f"/templates/{name}", response)


@router.put("/templates/{name}", response_model=TemplatePublic,
            responses={201: {"model": TemplatePublic, "description": "created"}},
            summary="Save a message template (refused with 422 unless it renders; an event type's name replaces "
                    "its default)")
async def put_notification_template(name: TemplateName, body: TemplateWrite, runtime: RuntimeDep, user: AdminUser,
                                     response: Response, if_match: IfMatchHeader = None) -> dict:
    upstream = await call(runtime, "notifications", "PUT", f"/templates/{name}", actor=user,
                          json=body.model_dump(mode="json"), headers={"if-match": if_match} if if_match else {})
    response.status_code = upstream.status_code  # 201 when new, 200 when replaced
    return notifications.relay(upstream, response)


@router.delete("/templates/{name}", status_code=204, response_class=Response,
               summary="Remove a stored template (an event type's shipped default applies again)")
async def delete_notification_template(name: TemplateName, runtime: RuntimeDep, user: AdminUser,
                                       if_match: IfMatchHeader = None) -> Response:
    await call(runtime, "notifications", "DELETE", f"/templates/{name}", actor=user,
               headers={"if-match": if_match} if if_match else {})
    return Response(status_code=204)


@router.post("/templates/{name}/preview", response_model=RenderedMessage,
             summary="Render a stored (or shipped) template with sample data (nothing is sent)")
async def preview_saved_notification_template(name: TemplateName, body: TemplateSample, runtime: RuntimeDep,
                                              user: AdminUser, response: Response) -> dict:
    return await notifications.send(runtime, response, "POST", f"/templates/{name}/preview", body, actor=user)
