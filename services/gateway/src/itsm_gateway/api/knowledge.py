"""Knowledge through the gateway (issue 18): articles, feedback and suggestions, passed to the knowledge service
with who reads (`reader`, from the caller's role: the service filters by audience with it), roles checked here."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_gateway.auth import RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(tags=["knowledge"], route_class=RoleRoute)
knowledge_service = Passage("knowledge", "/api/v1")
