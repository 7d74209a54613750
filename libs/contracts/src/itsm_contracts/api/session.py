"""Who the signed-in caller is, as the gateway sees them: what a frontend shows and hides by."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["requester", "agent", "change_manager", "admin"]


class SignedInUser(BaseModel):
    id: str = Field(description="the token's subject: who the platform records as acting")
    roles: list[Role] = Field(description="every role the user acts with, those their role includes too "
                                          "(an admin is also a change manager, an agent and a requester)")
    groups: list[str] = Field(description="their groups, as assignment groups name them")
