"""Subscriptions and message templates (admin), with preview. Issue 16, pipeline helper."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_gateway.auth import RoleRoute

router = APIRouter(tags=["notifications"], route_class=RoleRoute)
