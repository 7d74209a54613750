"""The articles a reader may read, as a filter (domain/audience.py's rule, in SQL)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, and_, false, or_, true

from itsm_contracts.api.knowledge import Reader
from itsm_knowledge.store.tables import articles


def readable(reader: Reader, groups: Collection[str]) -> ColumnElement[bool]:
    if reader == "admin":
        return true()
    arms = [articles.c.audience == "requesters"]
    if reader == "agent":
        arms.append(articles.c.audience == "agents")
    if groups:
        arms.append(and_(articles.c.audience == "group", articles.c.audience_group.in_(sorted(groups))))
    return or_(*arms) if arms else false()
