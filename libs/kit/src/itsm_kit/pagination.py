"""Opaque cursors for keyset pagination (stable under inserts, unlike offsets)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import orjson
from sqlalchemy import ColumnElement, Select, tuple_

from itsm_kit.errors import Problem

T = TypeVar("T")


def encode_cursor(at: datetime, ident: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([at.isoformat(), ident])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, ident = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), str(ident)
    except (ValueError, TypeError) as exc:
        raise Problem(400, "Bad Request", "the cursor is not one this API returned") from exc


def newest_first(query: Select, at: ColumnElement, ident: ColumnElement, *, limit: int, cursor: str | None) -> Select:
    """`query` as one keyset page, newest first on (at, id), with one extra row to tell if more follow."""
    query = query.order_by(at.desc(), ident.desc()).limit(limit + 1)
    if cursor:
        query = query.where(tuple_(at, ident) < tuple_(*decode_cursor(cursor)))
    return query


def page_of(items: list[T], limit: int, key: Callable[[T], tuple[datetime, str]]) -> tuple[list[T], str | None]:
    """The page's items and the cursor of the next page (None on the last one)."""
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, encode_cursor(*key(items[-1]))
