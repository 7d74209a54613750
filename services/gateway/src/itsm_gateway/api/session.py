"""The signed-in user: who they are and what they may do, so a screen offers only what will be allowed."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_contracts.api.session import SignedInUser
from itsm_gateway.auth import ROLES, RequesterUser, RoleRoute

router = APIRouter(tags=["session"], route_class=RoleRoute)


@router.get("/me", response_model=SignedInUser, summary="Who the token names: id, roles and groups")
async def get_signed_in_user(user: RequesterUser) -> SignedInUser:
    # Roles are ranked (auth.ROLES): holding one is holding every role below it, as the routes' x-roles count.
    highest = max(ROLES.index(role) for role in user.roles if role in ROLES)
    return SignedInUser(id=user.id, roles=list(ROLES[:highest + 1]), groups=sorted(user.groups))
