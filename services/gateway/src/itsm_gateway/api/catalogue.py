"""catalogue through the gateway (issue 17): thin pass-throughs to the requests service, roles checked here."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_gateway.auth import RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(tags=["catalogue"], route_class=RoleRoute)
requests_service = Passage("requests", "/api/v1")
