"""Inbound webhooks of connected tools: PagerDuty v3, Jira (issue 16: connectors helper).

The gateway passes the tool's raw body and signature header on unchanged (the tools hold no token of ours); the
signature over those bytes, with the endpoint's inbound secret, is what lets a call in. Anything else that is
signed is answered 202, done or not (a record we do not know, an event we do not mirror, a repeat), so the tool
does not retry what cannot change.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from itsm_kit.api import Ident
from itsm_kit.runtime import UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_notifications.handlers import connectors as handlers

router = APIRouter(prefix="/connectors", tags=["connectors"])


class WebhookTaken(BaseModel):
    status: Literal["published", "repeated", "ignored", "unknown_record"]


@router.post("/{endpoint_id}/pagerduty", status_code=202, response_model=WebhookTaken,
             summary="A PagerDuty v3 webhook (X-PagerDuty-Signature over the raw body)")
async def receive_pagerduty_webhook(endpoint_id: Ident, request: Request, uow: UnitOfWorkDep,
                                    signature: Annotated[str | None, Header(alias="x-pagerduty-signature")] = None
                                    ) -> WebhookTaken:
    body = await request.body()
    status = await retrying(lambda: handlers.pagerduty_webhook(uow, endpoint_id, body, signature))
    return WebhookTaken(status=status)


@router.post("/{endpoint_id}/jira", status_code=202, response_model=WebhookTaken,
             summary="A Jira webhook (X-Hub-Signature over the raw body)")
async def receive_jira_webhook(endpoint_id: Ident, request: Request, uow: UnitOfWorkDep,
                               signature: Annotated[str | None, Header(alias="x-hub-signature")] = None,
                               delivery: Annotated[str | None, Header(alias="x-atlassian-webhook-identifier",
                                                                      max_length=255)] = None) -> WebhookTaken:
    body = await request.body()
    status = await retrying(lambda: handlers.jira_webhook(uow, endpoint_id, body, signature, delivery))
    return WebhookTaken(status=status)
