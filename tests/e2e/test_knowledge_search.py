"""Knowledge articles in the one search (issue 18), through the gateway against the real services: everyone, requesters
too, finds the published articles they may read, by a misspelled word; never an agents-only article, another group's,
or a draft; who reads is the role's, whatever the client sends."""

from __future__ import annotations

import random
import string

import httpx
import pytest

from tests.e2e.test_screens import hanging
from tests.helpers import if_match, ok, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"


def word() -> str:
    """A word no other test writes (letters only, so it is one token to the parser and to pg_trgm)."""
    return "".join(random.choices(string.ascii_lowercase, k=12))


async def drafted_article(writer: httpx.AsyncClient, title: str, body: str, *, audience: str = "requesters",
                          **fields) -> dict:
    return ok(await writer.post(f"{API}/articles", json={"title": title, "body": body, "audience": audience,
                                                        **fields}), 201)


async def published(writer: httpx.AsyncClient, publisher: httpx.AsyncClient, article: dict) -> dict:
    """The article submitted by its writer and published by another agent (four-eyes)."""
    submitted = ok(await writer.post(f"{API}/articles/{article['id']}/submit", headers=if_match(article)))
    done = ok(await publisher.post(f"{API}/articles/{article['id']}/publish", headers=if_match(submitted)))
    assert done["state"] == "published"
    return done


async def published_article(platform, title: str, body: str, *, audience: str = "requesters", **fields) -> dict:
    """Written and published by two agents (of the article's group, for a group's article: only they may read it)."""
    tag, groups = word(), [fields["audience_group"]] if "audience_group" in fields else None
    async with (signed_in(platform, f"writer-{tag}", "agent", groups=groups) as writer,
                signed_in(platform, f"reviewer-{tag}", "agent", groups=groups) as reviewer):
        return await published(writer, reviewer, await drafted_article(writer, title, body, audience=audience,
                                                                       **fields))


async def search(client: httpx.AsyncClient, q: str, **params) -> dict:
    return ok(await client.get(f"{API}/search", params={"q": q, **params}))


def articles_in(found: dict) -> list[str]:
    return [h["id"] for h in found["items"] if h["record_type"] == "article"]


async def test_a_requester_finds_a_requesters_article_by_a_misspelled_word_and_never_one_not_for_them(platform):
    tag = word()
    title = f"{tag} reset your password"
    for_all = await published_article(platform, title, "Open the self-service portal and choose *Forgot password*.")
    desk = await published_article(platform, title, "Unlock the account in the directory first.", audience="agents")
    finance = await published_article(platform, title, "Finance staff reset through the finance portal.",
                                      audience="group", audience_group=f"finance-{tag}")
    async with signed_in(platform, f"writer-{tag}", "agent") as writer:
        await drafted_article(writer, title, "A draft: nobody finds it.")  # never published

    async with signed_in(platform, f"ann-{tag}", "requester") as ann:
        found = await search(ann, f"pasword {tag}")
        assert articles_in(found) == [for_all["id"]] and found["partial"] == []
        hit = found["items"][0]
        assert (hit["record_type"], hit["number"], hit["title"], hit["state"]) == (
            "article", for_all["number"], title, "published")
        assert "<mark>" in hit["highlight"] and hit["score"] > 0
        # Who reads is the role's: a reader the client sends is not passed on.
        assert articles_in(await search(ann, f"pasword {tag}", reader="admin")) == [for_all["id"]]
    async with signed_in(platform, f"fay-{tag}", "requester", groups=[f"finance-{tag}"]) as fay:
        assert set(articles_in(await search(fay, f"pasword {tag}"))) == {for_all["id"], finance["id"]}
    async with signed_in(platform, f"agent-{tag}", "agent") as agent:
        assert set(articles_in(await search(agent, f"pasword {tag}"))) == {for_all["id"], desk["id"]}
    async with signed_in(platform, f"admin-{tag}", "admin") as admin:
        assert set(articles_in(await search(admin, f"pasword {tag}"))) == {for_all["id"], desk["id"], finance["id"]}


async def test_a_requester_still_finds_their_own_incidents_beside_the_articles(platform):
    tag = word()
    article = await published_article(platform, f"{tag} printer prints blank pages", "Reinstall the driver.")
    async with signed_in(platform, f"ann-{tag}", "requester") as ann:
        mine = ok(await ann.post(f"{API}/incidents", json={"short_description": f"{tag} printer blank pages"}), 201)
        found = await search(ann, f"{tag} printer")
    assert {(h["record_type"], h["id"]) for h in found["items"]} == {("incident", mine["id"]),
                                                                     ("article", article["id"])}
    assert [h["score"] for h in found["items"]] == sorted((h["score"] for h in found["items"]), reverse=True)


async def test_a_knowledge_service_that_does_not_answer_is_named_in_partial(platform):
    tag = word()
    async with signed_in(platform, f"ann-{tag}", "requester") as ann:
        mine = ok(await ann.post(f"{API}/incidents", json={"short_description": f"{tag} badge reader offline"}), 201)
        with hanging(platform, "knowledge"):
            found = await search(ann, f"{tag} badge")
    assert found["partial"] == ["article"]
    assert [h["id"] for h in found["items"]] == [mine["id"]]
