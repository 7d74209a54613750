"""Opaque cursors for keyset pagination (stable under inserts, unlike offsets).

A page is ordered by one or more key columns, the last of them unique (the id), all in
the same direction. Its cursor holds the last item's key values and the name of the
sort order, so a cursor cannot be replayed against another order.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import ColumnElement, Select, tuple_

from itsm_kit.errors import Problem

T = TypeVar("T")


def _bad_cursor(why: str = "the cursor is not one this API returned") -> Problem:
    return Problem(400, "Bad Request", why)


def encode_cursor(*values: Any, sort: str = "") -> str:
    # Datetimes are tagged so they come back as datetimes; ints and strings are JSON already.
    keys = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(orjson.dumps({"s": sort, "k": keys})).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: str = "") -> tuple[Any, ...]:
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = tuple(datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in body["k"])
        cursor_sort = body["s"]
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad_cursor() from exc
    if cursor_sort != sort:
        raise _bad_cursor(f"the cursor belongs to the sort order {cursor_sort or 'default'!r}, "
                          f"not {sort or 'default'!r}")
    return values


def keyset(query: Select, keys: Sequence[ColumnElement], *, descending: bool, limit: int, cursor: str | None,
           sort: str = "") -> Select:
    """`query` as one keyset page ordered by `keys`, with one extra row to tell if more follow."""
    query = query.order_by(*(k.desc() if descending else k.asc() for k in keys)).limit(limit + 1)
    if cursor:
        after = decode_cursor(cursor, sort=sort)
        if len(after) != len(keys):
            raise _bad_cursor()
        query = query.where(tuple_(*keys) < tuple_(*after) if descending else tuple_(*keys) > tuple_(*after))
    return query


def newest_first(query: Select, at: ColumnElement, ident: ColumnElement, *, limit: int, cursor: str | None) -> Select:
    """`query` as one keyset page, newest first on (at, id)."""
    return keyset(query, (at, ident), descending=True, limit=limit, cursor=cursor)


def page_of(items: list[T], limit: int, key: Callable[[T], tuple[Any, ...]], *,
            sort: str = "") -> tuple[list[T], str | None]:
    """The page's items and the cursor of the next page (None on the last one)."""
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, encode_cursor(*key(items[-1]), sort=sort)
