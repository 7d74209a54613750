"""Opaque cursors for keyset pagination (stable under inserts, unlike offsets)."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson

from itsm_kit.errors import Problem


def encode_cursor(at: datetime, ident: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([at.isoformat(), ident])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, ident = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), str(ident)
    except (ValueError, TypeError) as exc:
        raise Problem(400, "Bad Request", "the cursor is not one this API returned") from exc
