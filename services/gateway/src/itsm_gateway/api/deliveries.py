"""Notification endpoints (admin), the delivery log and redrive. Issue 16, delivery helper."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_gateway.auth import RoleRoute

router = APIRouter(tags=["notifications"], route_class=RoleRoute)
