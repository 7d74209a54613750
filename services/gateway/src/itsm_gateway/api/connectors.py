"""Inbound webhooks of connected tools (PagerDuty v3, Jira): signed by the tool, not by a user.
Issue 16, connectors helper."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_gateway.auth import RoleRoute

router = APIRouter(tags=["notifications"], route_class=RoleRoute)
