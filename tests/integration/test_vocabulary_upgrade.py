"""Upgrading to a vocabulary without ids (incidents 0013; changes, problems and knowledge alike): the words with more
than two digits leave it, titles written after no longer add them, and the downgrade puts them back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.helpers import downgrade, fresh_database, migrate

pytestmark = pytest.mark.integration


async def insert_incident(url: str, title: str) -> None:
    db = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        await db.execute(
            "INSERT INTO incidents (id, number, short_description, description, state, impact, urgency, priority,"
            " origin, opened_at, updated_at, version, alert_count)"
            " VALUES ($1, $2, $3, '', 'new', 3, 3, 5, 'monitoring', $4, $4, 1, 1)",
            str(uuid.uuid4()), f"INC{uuid.uuid4().hex[:8]}", title, now)
    finally:
        await db.close()


async def vocabulary(url: str) -> set[str]:
    db = await asyncpg.connect(url)
    try:
        return {r["word"] for r in await db.fetch("SELECT word FROM incidents_words")}
    finally:
        await db.close()


async def test_ids_leave_the_vocabulary_on_upgrade_and_come_back_on_downgrade(infra):
    url = await fresh_database("itsm_vocabulary_upgrade")
    migrate("incidents", url, "0012")
    await insert_incident(url, "Checkout slow on pod ab12cd34ef")
    assert await vocabulary(url) == {"checkout", "slow", "pod", "ab12cd34ef"}

    migrate("incidents", url, "0013")
    assert await vocabulary(url) == {"checkout", "slow", "pod"}
    await insert_incident(url, "Payments slow on pod 7f9c4d5b8x")
    assert await vocabulary(url) == {"checkout", "slow", "pod", "payments"}

    downgrade("incidents", url, "0012")
    assert await vocabulary(url) == {"checkout", "slow", "pod", "payments", "ab12cd34ef", "7f9c4d5b8x"}
