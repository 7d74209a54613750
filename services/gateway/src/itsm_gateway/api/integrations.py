"""Monitoring integrations: keys for admins to manage, webhooks for monitoring systems."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from itsm_kit.errors import not_found
from itsm_kit.runtime import RuntimeDep
from itsm_gateway import handlers
from itsm_gateway.auth import AdminUser, Integration
from itsm_gateway.domain import AlertmanagerWebhook, from_alertmanager
from itsm_gateway.store import IntegrationRepository

router = APIRouter(prefix="/integrations", tags=["integrations"])
webhooks = APIRouter(prefix="/integrations", tags=["monitoring webhooks"])


class IntegrationCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    kind: Literal["alertmanager"] = "alertmanager"


class IntegrationPublic(BaseModel):
    id: str
    name: str
    kind: str
    key_prefix: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class IntegrationCreated(IntegrationPublic):
    key: str = Field(description="the integration key; shown only now, store it in the sender's configuration")


class AlertsAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    accepted: int
    dedup_keys: list[str]


@router.post("", response_model=IntegrationCreated, status_code=201, summary="Create an integration and its key")
async def create_integration(body: IntegrationCreate, runtime: RuntimeDep, user: AdminUser) -> IntegrationCreated:
    async with runtime.transaction() as session:
        integration, key = await handlers.create_integration(session, name=body.name, kind=body.kind,
                                                             created_by=user.id)
    return IntegrationCreated(key=key, **integration)


@router.get("", response_model=list[IntegrationPublic])
async def list_integrations(runtime: RuntimeDep, user: AdminUser) -> list[dict]:
    async with runtime.sessions() as session:
        return await IntegrationRepository(session).all()


@router.delete("/{integration_id}", status_code=204, summary="Revoke an integration's key")
async def revoke_integration(integration_id: str, runtime: RuntimeDep, user: AdminUser) -> None:
    async with runtime.transaction() as session:
        if not await IntegrationRepository(session).revoke(integration_id, handlers.utcnow()):
            raise not_found("active integration", integration_id)


@webhooks.post("/alertmanager", response_model=AlertsAccepted, status_code=202,
               summary="Prometheus Alertmanager webhook (version 4)")
async def alertmanager_webhook(body: AlertmanagerWebhook, runtime: RuntimeDep,
                               integration: Integration) -> AlertsAccepted:
    alerts = from_alertmanager(body, integration["id"], handlers.utcnow())
    await handlers.publish_alerts(runtime.producer, alerts, runtime.settings.source)
    return AlertsAccepted(accepted=len(alerts), dedup_keys=[a.dedup_key for a in alerts])
