"""The public API, version 1: everything under /api/v1."""

from fastapi import APIRouter

from itsm_gateway.api import incidents, integrations

router = APIRouter(prefix="/api/v1")
router.include_router(integrations.router)
router.include_router(integrations.webhooks)
router.include_router(incidents.router)
