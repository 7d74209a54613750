"""Articles in search and suggestions (issue 18) on a real, migrated knowledge database, against rows written here:
only published articles the reader may read are found; known errors are suggested to agents only, never when
retired, and one whose article the reader may read comes as that article."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update

from itsm_kit.unit_of_work import UnitOfWork
from tests.helpers import migrated_unit_of_work

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@contextlib.asynccontextmanager
async def knowledge_unit_of_work(database: str) -> AsyncIterator[UnitOfWork]:
    from itsm_knowledge.store.timeline import write_timeline

    async with migrated_unit_of_work("knowledge", database, write_timeline) as uow:
        yield uow


@pytest.fixture(scope="module")
async def uow(infra):
    async with knowledge_unit_of_work("itsm_knowledge_suggestions") as unit:
        yield unit


async def write(uow: UnitOfWork, table, **row) -> str:
    async with uow:
        await uow.session.execute(insert(table).values(**row))
        await uow.session.commit()
    return row["id"]


async def an_article(uow: UnitOfWork, title: str, body: str, *, state: str = "published",
                     audience: str = "requesters", group: str | None = None, **fields) -> str:
    from itsm_knowledge.store.tables import articles

    ident = str(uuid.uuid4())
    return await write(uow, articles, **{
        "id": ident, "number": f"KB{ident[:8]}", "title": title, "body": body, "state": state,
        "published_version": 1 if state == "published" else None, "latest_version": 1, "audience": audience,
        "audience_group": group, "category": None, "tags": [], "source": "written", "views": 0, "helpful": 0,
        "not_helpful": 0, "attached": 0, "created_by": "agent-1", "created_at": NOW, "updated_at": NOW, "version": 1,
        **fields})


async def a_known_error(uow: UnitOfWork, title: str, symptoms: str, workaround: str, **fields) -> str:
    from itsm_knowledge.store.tables import known_errors

    ident = str(uuid.uuid4())
    return await write(uow, known_errors, **{
        "id": ident, "number": f"KE{ident[:8]}", "problem_id": str(uuid.uuid4()), "problem_number": "PRB0001",
        "title": title, "symptoms": symptoms, "workaround": workaround, "affected_cis": [], "revision": 1,
        "published_at": NOW, **fields})


def tagged(text: str) -> tuple[str, str]:
    """A word no other test's rows have, and the text with it: each test finds only its own rows."""
    tag = "zq" + uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    return tag, f"{text} {tag}"


# -- search -------------------------------------------------------------------------------------------------------

async def test_search_finds_published_articles_the_reader_may_read_by_a_misspelled_word(uow):
    from itsm_knowledge.handlers.suggestions import search_articles

    tag, title = tagged("Reset your password")
    everyone = await an_article(uow, title, "Open the self-service portal and choose forgot password.")
    desk = await an_article(uow, title, "Unlock the account in the directory first.", audience="agents")
    group = await an_article(uow, title, "Finance users reset through the finance portal.", audience="group",
                             group="finance")
    await an_article(uow, title, "A draft nobody finds.", state="draft")
    await an_article(uow, title, "Retired.", state="retired")

    async def found(q: str, reader: str, groups=frozenset()) -> set[str]:
        return {h["id"] for h in await search_articles(uow, q, reader=reader, groups=groups, limit=20)}

    assert await found(f"pasword {tag}", "requester") == {everyone}
    assert await found(f"pasword {tag}", "requester", frozenset({"finance"})) == {everyone, group}
    assert await found(f"pasword {tag}", "agent") == {everyone, desk}
    assert await found(f"pasword {tag}", "admin") == {everyone, desk, group}
    hit = (await search_articles(uow, f"pasword {tag}", reader="requester", groups=frozenset(), limit=5))[0]
    assert (hit["short_description"], hit["state"], hit["audience"]) == (title, "published", "requesters")
    assert hit["score"] > 0 and "<mark>" in hit["highlight"]


# -- suggestions --------------------------------------------------------------------------------------------------

async def test_any_word_of_a_long_text_finds_and_what_helped_before_ranks_first(uow):
    from itsm_knowledge.handlers.suggestions import suggest
    from itsm_knowledge.store.tables import articles

    tag, title = tagged("Printer prints blank pages")
    plain = await an_article(uow, title, "Reinstall the driver from the print server.")
    used = await an_article(uow, title, "Reinstall the driver from the print server.")
    text = (f"Since this morning every job on the third floor printer comes out as blank pages {tag}; "
            "we tried turning it off and on, the queue looks normal, toner was replaced last week.")

    found = await suggest(uow, text, reader="agent", groups=frozenset())
    assert [s.id for s in found if s.id in (plain, used)] == sorted([plain, used], key=lambda i: f"KB{i[:8]}")

    async with uow:
        await uow.session.execute(update(articles).where(articles.c.id == used).values(attached=2))
        await uow.session.commit()
    found = await suggest(uow, text, reader="agent", groups=frozenset())
    assert found[0].id == used and found[0].reasons == ["text", "helped"]
    assert found[1].id == plain


async def test_known_errors_are_suggested_to_agents_only_and_never_once_retired(uow):
    from itsm_knowledge.handlers.suggestions import suggest

    tag, title = tagged("Intranet certificate not trusted")
    holding = await a_known_error(uow, title, "Browsers warn the connection is not private.", "Install the new CA.",
                                  affected_cis=["ci-web"])
    retired = await a_known_error(uow, title, "Browsers warn the connection is not private.", "Old advice.",
                                  retired_at=NOW)
    article = await an_article(uow, title, "Install the new intermediate certificate from the software centre.")
    text = f"{tag} browser says connection not private"

    for_agent = await suggest(uow, text, reader="agent", groups=frozenset(), ci="ci-web")
    assert [(s.kind, s.id) for s in for_agent] == [("known_error", holding), ("article", article)]
    assert for_agent[0].reasons == ["text", "same_ci"] and retired not in {s.id for s in for_agent}

    for_requester = await suggest(uow, text, reader="requester", groups=frozenset(), ci="ci-web")
    assert [(s.kind, s.id) for s in for_requester] == [("article", article)]


async def test_a_known_error_comes_as_its_article_when_the_reader_may_read_it(uow):
    from itsm_knowledge.handlers.suggestions import suggest

    tag, title = tagged("Payroll export to the bank times out")
    error = await a_known_error(uow, title, "The month-end file transfer stops after a minute.",
                                "Send the file in two halves.", affected_cis=["ci-sftp"])
    article = await an_article(uow, "How to send a large payroll file", "Split it in two halves.",
                               audience="agents", known_error_id=error)
    text = f"{tag} payroll bank export failed"

    found = await suggest(uow, text, reader="agent", groups=frozenset(), ci="ci-sftp")
    assert [(s.kind, s.id, s.known_error_id) for s in found] == [("article", article, error)]
    assert found[0].reasons == ["text", "same_ci"]  # the article earns its known error's CI

    # A requester may not read that article: and known errors are not for them either: nothing.
    assert await suggest(uow, text, reader="requester", groups=frozenset(), ci="ci-sftp") == []


async def test_a_known_errors_retirement_takes_away_its_ci_from_its_article(uow):
    from itsm_knowledge.handlers.suggestions import suggest

    tag, title = tagged("Disk full on log partition")
    error = await a_known_error(uow, "Old log rotation", "stale", "stale", affected_cis=["ci-app"], retired_at=NOW)
    article = await an_article(uow, title, "Compress old logs.", known_error_id=error)
    found = await suggest(uow, f"{tag} disk full", reader="agent", groups=frozenset(), ci="ci-app")
    assert [(s.id, s.reasons) for s in found] == [(article, ["text"])]
