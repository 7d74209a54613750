"""People and groups for notifications (admin writes; agents read). Issue 16, directory helper."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_gateway.auth import RoleRoute

router = APIRouter(tags=["notifications"], route_class=RoleRoute)
