"""What every service's routes share: who acts, which version the caller last read, the ETag back.

Who acts (and the groups they are in) is what the gateway's signature names (itsm_kit.internal_auth verified
it before any route runs): the gateway sets it from the caller's token; no header a caller sends can. Writes
take `If-Match` as the version (ETag) the caller last read; a stale one is a 412.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel

from itsm_kit.domain import SYSTEM
from itsm_kit.errors import if_match_version
from itsm_kit.internal_auth import signed_actor, signed_groups

# The header as sent: the gateway passes it on to the service that owns the record.
IfMatchHeader = Annotated[str | None, Header(alias="if-match",
                                             description="the version (ETag) you last read; a stale one is a 412")]


async def _if_match(if_match: IfMatchHeader = None) -> int | None:
    return if_match_version(if_match)


async def _actor(request: Request) -> str:
    """The subject of the gateway's signed call (the caller's token's subject), else the system."""
    return signed_actor(request) or SYSTEM


async def _actor_groups(request: Request) -> frozenset[str]:
    """The groups of who acts, as the gateway's signature names them: none for the system."""
    return signed_groups(request)


IfMatch = Annotated[int | None, Depends(_if_match)]

# A record's id in a path: what ids are made of (UUIDs, names), never a dot, slash, `?`, `#` or a
# control character, so that no id can move a call to another path upstream.
Ident = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                            description="a record's id")]
Actor = Annotated[str, Depends(_actor)]
# e.g. "assigned to my groups": the caller's groups from their token (at most internal_auth.MAX_GROUPS).
ActorGroups = Annotated[frozenset[str], Depends(_actor_groups)]


def tag(response: Response, version: int) -> None:
    """The ETag of what the answer shows: the version to send back as If-Match."""
    response.headers["ETag"] = f'"{version}"'


M = TypeVar("M", bound=BaseModel)


def answer(response: Response, model: type[M], aggregate: object) -> M:
    """An aggregate as its public model (same field names), with its version as the ETag."""
    tag(response, aggregate.version)
    return model.model_validate(aggregate, from_attributes=True)


# A page's size, where a list takes nothing more than a cursor.
PageSize = Annotated[int, Query(ge=1, le=200, description="at most this many items")]
