"""Monitoring integrations: keys and policies for admins to manage, webhooks for monitoring systems.

Every webhook answers 202 only once its alerts are durably in Kafka (acks=all); a 503
means retry the whole request (alerts already stored are deduplicated downstream). Bad or
oversize input (422, 413) is refused whole before anything is written: senders do not retry
a 4xx (Alertmanager never does), so a 5xx is only for overload and outages.
Errors are problem+json, except on the PagerDuty endpoint, which answers in PagerDuty's
own shapes so that PagerDuty clients point at it unchanged (see PagerDutyRoute).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from itsm_contracts.events.alerts import AlertReceived
from itsm_kit.api import IfMatch, tag
from itsm_kit.clock import utcnow
from itsm_kit.domain import InvalidValue
from itsm_kit.errors import Problem
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_gateway import handlers
from itsm_gateway.auth import AdminUser, RoleRoute, forget_integration, identify, integration_of, limits
from itsm_gateway.domain import (
    AlertmanagerWebhook, GenericBody, GrafanaWebhook, IntegrationPolicy, Kind, PagerDutyEvent, SizeLimits, TooLarge,
    apply_policy, check_sizes, from_alertmanager, from_generic, from_grafana, from_pagerduty,
)
from itsm_gateway.domain.pagerduty import ACTION_STATUS
from itsm_gateway.domain.policy import RoutingRule

router = APIRouter(prefix="/integrations", tags=["integrations"], route_class=RoleRoute)
webhooks = APIRouter(prefix="/integrations", tags=["monitoring webhooks"])


# --- admin API ---------------------------------------------------------------------------

class IntegrationCreate(IntegrationPolicy):
    name: str = Field(min_length=1, max_length=120)
    kind: Kind = "alertmanager"


class IntegrationUpdate(BaseModel):
    """Only the members sent change; null clears dedup_key_template or dedup_fields; routing_rules is replaced whole."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    dedup_key_template: str | None = Field(default=None, min_length=1, max_length=500)
    dedup_fields: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, min_length=1, max_length=20)
    resolve_incident: bool | None = None
    acknowledge_incident: bool | None = None
    storm_window_seconds: int | None = Field(default=None, ge=0, le=86_400)
    storm_group_labels: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=20)
    routing_rules: list[RoutingRule] | None = Field(default=None, max_length=200)


class IntegrationPublic(IntegrationPolicy):
    model_config = ConfigDict(extra="ignore")  # answers are built from stored rows, key hash included

    id: str
    name: str
    kind: Kind
    key_prefix: str = Field(description="the key's first characters, to tell keys apart; never the key")
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    version: int = Field(description="also the ETag; send it as If-Match when changing the integration")
    updated_at: datetime | None
    updated_by: str | None


class IntegrationCreated(IntegrationPublic):
    key: str = Field(description="the integration key; shown only now, store it in the sender's configuration")


def _public(integration: dict) -> dict:
    # The policy's members as the models they are, not dumped to be checked again: a pattern stored
    # before RE2 that RE2 refuses is still shown to the admin who has to rewrite it.
    return {**integration, **dict(integration["policy"])}


def _tagged(integration: dict, response: Response) -> dict:
    tag(response, integration["version"])
    return _public(integration)


@router.post("", response_model=IntegrationCreated, status_code=201, summary="Create an integration and its key")
async def create_integration(body: IntegrationCreate, uow: UnitOfWorkDep, user: AdminUser,
                             response: Response) -> dict:
    policy = IntegrationPolicy.model_validate(body.model_dump(exclude={"name", "kind"}))
    integration, key = await handlers.create_integration(uow, name=body.name, kind=body.kind, policy=policy,
                                                         created_by=user.id)
    response.headers["Location"] = f"/api/v1/integrations/{integration['id']}"
    return {**_tagged(integration, response), "key": key}


@router.get("", response_model=list[IntegrationPublic], summary="Every integration, revoked ones included")
async def list_integrations(uow: UnitOfWorkDep, user: AdminUser) -> list[dict]:
    return [_public(i) for i in await handlers.list_integrations(uow)]


@router.get("/{integration_id}", response_model=IntegrationPublic)
async def get_integration(integration_id: str, uow: UnitOfWorkDep, user: AdminUser, response: Response) -> dict:
    return _tagged(await handlers.get_integration(uow, integration_id), response)


@router.patch("/{integration_id}", response_model=IntegrationPublic,
              summary="Rename an integration or change its policy (its key and kind stay)")
async def change_integration(integration_id: str, body: IntegrationUpdate, uow: UnitOfWorkDep, user: AdminUser,
                             response: Response, runtime: RuntimeDep, if_match: IfMatch = None) -> dict:
    changes = body.model_dump(exclude_unset=True, exclude={"name"})
    integration = await handlers.change_integration(uow, integration_id, name=body.name, policy_changes=changes,
                                                    if_match=if_match, changed_by=user.id)
    forget_integration(runtime, integration_id)  # its webhooks take the new policy at once
    return _tagged(integration, response)


@router.delete("/{integration_id}", status_code=204, summary="Revoke an integration's key")
async def revoke_integration(integration_id: str, uow: UnitOfWorkDep, user: AdminUser, runtime: RuntimeDep) -> None:
    await handlers.revoke_integration(uow, integration_id)
    forget_integration(runtime, integration_id)  # refused here at once, on other replicas within the key cache TTL


# --- webhooks ----------------------------------------------------------------------------

class AlertsAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    accepted: int
    dedup_keys: list[str] = Field(description="each alert's dedup key, in the order sent")


async def _accept(runtime, integration: dict, alerts: list[AlertReceived]) -> list[AlertReceived]:
    """Sizes checked (TooLarge refuses the request whole), the integration's policy applied, then every
    alert durably in Kafka."""
    settings = runtime.settings
    check_sizes(alerts, SizeLimits(settings.webhook_alert_max_bytes, settings.webhook_batch_max_bytes))
    limits(runtime).admit_alerts(integration, len(alerts))
    routed = apply_policy(alerts, integration["policy"])
    await handlers.publish_alerts(runtime.producer, routed, settings.source, timeout=settings.publish_timeout_seconds)
    return routed


async def _accepted(runtime, integration: dict, alerts: list[AlertReceived]) -> AlertsAccepted:
    try:
        routed = await _accept(runtime, integration, alerts)
    except TooLarge as exc:
        raise Problem(413, "Content Too Large", str(exc), **exc.details) from None
    return AlertsAccepted(accepted=len(routed), dedup_keys=[a.dedup_key for a in routed])


@webhooks.post("/alertmanager", response_model=AlertsAccepted, status_code=202,
               summary="Prometheus Alertmanager webhook (version 4)")
async def receive_alertmanager_alerts(body: AlertmanagerWebhook, runtime: RuntimeDep,
                               integration: Annotated[dict, integration_of("alertmanager")]) -> AlertsAccepted:
    return await _accepted(runtime, integration, from_alertmanager(body, integration["id"], utcnow()))


@webhooks.post("/grafana", response_model=AlertsAccepted, status_code=202,
               summary="Grafana unified alerting webhook (contact point of type webhook)")
async def receive_grafana_alerts(body: GrafanaWebhook, runtime: RuntimeDep,
                          integration: Annotated[dict, integration_of("grafana")]) -> AlertsAccepted:
    return await _accepted(runtime, integration, from_grafana(body, integration["id"], utcnow()))


@webhooks.post("/generic", response_model=AlertsAccepted, status_code=202,
               summary="A generic JSON alert, or a batch of them as {\"alerts\": [...]}")
async def receive_generic_alerts(body: Annotated[GenericBody, Body()], runtime: RuntimeDep,
                          integration: Annotated[dict, integration_of("generic")]) -> AlertsAccepted:
    return await _accepted(runtime, integration, from_generic(body, integration["id"], utcnow()))


# --- PagerDuty Events API v2 -------------------------------------------------------------

class PagerDutyAccepted(BaseModel):
    status: Literal["success"] = "success"
    message: Literal["Event processed"] = "Event processed"
    dedup_key: str


class PagerDutyRejected(BaseModel):
    status: str = Field(examples=["invalid event"])
    message: str = Field(examples=["Event object is invalid"])
    errors: list[str] = []


def _pagerduty_error(status_code: int, status: str, message: str, errors: list[str],
                     headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": status, "message": message, "errors": errors}, status_code=status_code,
                        headers=headers)


def _invalid_event(errors: list[str]) -> Problem:
    return Problem(400, "invalid event", "Event object is invalid", errors=errors)


def _explain(error: dict[str, Any]) -> str:
    """One of PagerDuty's error strings: "'payload.severity' ...", without FastAPI's "body" or the action tag."""
    location = [str(p) for p in error.get("loc", ())]
    location = location[1:] if location[:1] == ["body"] else location
    location = location[1:] if location[:1] and location[0] in ACTION_STATUS else location
    where, message = ".".join(location), error.get("msg", "is invalid")
    if error.get("type") == "union_tag_not_found":
        return "'event_action' is missing"
    if error.get("type") == "union_tag_invalid":
        return "'event_action' must be one of trigger, acknowledge, resolve"
    if error.get("type") == "missing":
        return f"'{where}' is missing"
    return f"'{where}' {message}" if where else message


class PagerDutyRoute(APIRoute):
    """Answers errors as PagerDuty does ({status, message, errors}), which PagerDuty clients parse.

    Invalid JSON and invalid events are 400s, as at PagerDuty; so is an unknown routing_key
    (PagerDuty's "Invalid routing key"), where our other webhooks answer 401. Other errors
    (503 when Kafka cannot take the event) keep their status in the same shape. A body over
    the size limit is refused before any route runs, so that 413 stays problem+json.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def pagerduty_shaped(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                errors = exc.errors()
                if any(e.get("type") == "json_invalid" for e in errors):
                    return _pagerduty_error(400, "Unrecognized object", "Event object format is unrecognized",
                                            ["JSON parse error"])
                return _pagerduty_error(400, "invalid event", "Event object is invalid", [_explain(e) for e in errors])
            except Problem as exc:
                return _pagerduty_error(exc.status, exc.title, exc.detail or exc.title,
                                        list(exc.extra.get("errors", [])), exc.headers)

        return pagerduty_shaped


pagerduty = APIRouter(route_class=PagerDutyRoute, tags=["monitoring webhooks"])


@pagerduty.post(
    "/v2/enqueue", response_model=PagerDutyAccepted, status_code=202,
    summary="PagerDuty Events API v2: trigger, acknowledge or resolve an alert",
    description="The body PagerDuty's /v2/enqueue takes; `routing_key` is the integration key. A trigger "
                "without dedup_key gets one, returned in the answer. Errors answer in PagerDuty's shape.",
    responses={400: {"model": PagerDutyRejected, "description": "invalid event, JSON or routing_key"},
               429: {"model": PagerDutyRejected, "description": "too many events; retry after Retry-After"},
               503: {"model": PagerDutyRejected, "description": "not stored; retry"}},
)
async def enqueue_pagerduty_event(event: Annotated[PagerDutyEvent, Body()], request: Request,
                            runtime: RuntimeDep) -> PagerDutyAccepted:
    integration = await identify(request, runtime, event.routing_key, throttled=429)  # 429, as PagerDuty
    if integration is None:
        raise _invalid_event(["Invalid routing key"])
    if integration["kind"] != "pagerduty":
        raise _invalid_event([f"Invalid routing key: it belongs to a {integration['kind']} integration"])
    alert = from_pagerduty(event, integration["id"], utcnow(), generated_dedup_key=uuid.uuid4().hex)
    try:
        [routed] = await _accept(runtime, integration, [alert])
    except InvalidValue as exc:  # over the size budget (PagerDuty's own: 512 KB), or not Unicode
        raise _invalid_event([str(exc)]) from None
    return PagerDutyAccepted(dedup_key=routed.dedup_key)
