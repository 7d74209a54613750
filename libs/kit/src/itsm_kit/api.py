"""What every service's routes share: who acts, which version the caller last read, the ETag back.

Internal services trust `X-Actor`: the gateway, the only entry, sets it from the caller's
token. Writes take `If-Match` as the version (ETag) the caller last read; a stale one is a 412.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Header, Path, Query, Response
from pydantic import BaseModel

from itsm_kit.domain import SYSTEM
from itsm_kit.errors import if_match_version

# The header as sent: the gateway passes it on to the service that owns the record.
IfMatchHeader = Annotated[str | None, Header(alias="if-match",
                                             description="the version (ETag) you last read; a stale one is a 412")]


def _if_match(if_match: IfMatchHeader = None) -> int | None:
    return if_match_version(if_match)


def _actor(actor: Annotated[str, Header(alias="x-actor", min_length=1, max_length=255,
                                        description="who acts: the gateway sets it from the token's subject")]
           = SYSTEM) -> str:
    return actor


IfMatch = Annotated[int | None, Depends(_if_match)]

# A record's id in a path: what ids are made of (UUIDs, names), never a dot, slash, `?`, `#` or a
# control character, so that no id can move a call to another path upstream.
Ident = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                            description="a record's id")]
Actor = Annotated[str, Depends(_actor)]


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
