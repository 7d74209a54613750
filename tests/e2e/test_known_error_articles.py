"""Known errors become draft articles (issue 18): published through the problems API, carried by itsm.problems to
the knowledge service, which drafts an article for the desk that links back; a revision rewrites the draft (or,
once published, drafts the next version); a retired known error keeps its article."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from itsm_contracts.events.problems import ProblemKnownErrorPublished
from tests.e2e.test_known_errors import analysed_problem
from tests.helpers import database_scalar, eventually, if_match, ok, problem, publishing, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"


@pytest.fixture
async def agent(platform):
    async with signed_in(platform, "agent-kb-ke", "agent") as client:
        yield client


async def article_of(known_error_id: str) -> str:
    async def drafted() -> str:
        article_id = await database_scalar("knowledge", "SELECT article_id FROM known_errors WHERE id = $1",
                                           known_error_id)
        assert article_id, "the knowledge service has not drafted the known error's article yet"
        return article_id
    return await eventually(drafted)


async def test_a_known_error_becomes_a_draft_article_that_links_back_and_follows_its_revisions(
        infra, agent, platform):
    ci = str(uuid.uuid4())
    problem_record = await analysed_problem(agent, affected_cis=[ci], short_description="logins hang after deploy")
    url = f"{API}/problems/{problem_record['id']}/known-error"
    known = ok(await agent.post(url, headers=if_match(problem_record), json={
        "symptoms": "logins hang for 30 s", "workaround": "restart the auth proxy"}))

    article_id = await article_of(known["id"])
    drafted = ok(await agent.get(f"{API}/articles/{article_id}"))
    assert (drafted["state"], drafted["source"], drafted["audience"], drafted["category"]) == (
        "draft", "known_error", "agents", None)
    assert (drafted["known_error_id"], drafted["known_error_number"], drafted["problem_id"],
            drafted["problem_number"]) == (known["id"], known["number"], problem_record["id"],
                                           problem_record["number"])
    assert (drafted["title"], drafted["written_by"]) == (known["title"], "system")
    for part in ("<h2>Symptoms</h2>", "logins hang for 30 s", "<h2>Workaround</h2>", "restart the auth proxy", ci,
                 f"Known error {known['number']} of problem {problem_record['number']}"):
        assert part in drafted["html"], part
    async with signed_in(platform, "requester-kb-ke", "requester") as requester:
        problem(await requester.get(f"{API}/articles/{article_id}"), 404)

    # A revision rewrites the draft: still version 1.
    shown = ok(await agent.get(f"{API}/problems/{problem_record['id']}"))
    revised = ok(await agent.post(url, headers=if_match(shown), json={
        "symptoms": "logins hang for 30 s", "workaround": "set SESSION_CACHE_MAX=10000"}))
    assert revised["revision"] == 2

    async def rewritten() -> dict:
        current = ok(await agent.get(f"{API}/articles/{article_id}"))
        assert "SESSION_CACHE_MAX" in current["html"]
        return current
    current = await eventually(rewritten)
    assert (current["latest_version"], current["state"]) == (1, "draft")
    assert await database_scalar("knowledge", "SELECT revision FROM known_errors WHERE id = $1", known["id"]) == 2

    # Nobody wrote it, so the agent who submits it may publish it; a later revision drafts version 2.
    published = ok(await agent.post(f"{API}/articles/{article_id}/publish", headers=if_match(
        ok(await agent.post(f"{API}/articles/{article_id}/submit", headers=if_match(current))))))
    assert (published["state"], published["approved_by"]) == ("published", "agent-kb-ke")
    shown = ok(await agent.get(f"{API}/problems/{problem_record['id']}"))
    ok(await agent.post(url, headers=if_match(shown), json={
        "symptoms": "logins hang for 30 s", "workaround": "upgrade the auth proxy to 2.4"}))

    async def next_version() -> dict:
        current = ok(await agent.get(f"{API}/articles/{article_id}"))
        assert current["latest_version"] == 2
        return current
    current = await eventually(next_version)
    assert (current["state"], current["published_version"]) == ("published", 1), "readers still see version 1"
    assert "upgrade the auth proxy" in ok(await agent.get(f"{API}/articles/{article_id}/versions/2"))["body"]

    # Retired: no longer suggested; the article stays for someone to decide about.
    latest = ok(await agent.get(f"{API}/known-errors/{known['id']}"))
    ok(await agent.post(f"{API}/known-errors/{known['id']}/retire", headers=if_match(latest),
                        json={"reason": "the fix is deployed"}))

    async def retired() -> None:
        assert await database_scalar("knowledge", "SELECT retired_at IS NOT NULL FROM known_errors WHERE id = $1",
                                     known["id"])
    await eventually(retired)
    assert ok(await agent.get(f"{API}/articles/{article_id}"))["state"] == "published"
    assert await database_scalar("knowledge", "SELECT count(*) FROM articles WHERE known_error_id = $1",
                                 known["id"]) == 1


async def test_an_older_revision_arriving_late_changes_nothing(infra, agent):
    problem_id, known_error_id, later_one = (str(uuid.uuid4()) for _ in range(3))

    def known(ident: str, revision: int, workaround: str) -> ProblemKnownErrorPublished:
        return ProblemKnownErrorPublished(
            problem_id=problem_id, actor="agent-kb-ke", known_error_id=ident, number=f"KE{ident[:8]}",
            problem_number="PRB9000001", title="Disk fills up", symptoms="the data disk is full",
            workaround=workaround, revision=revision, published_at=dt.datetime.now(dt.UTC))

    # Keyed by the problem: one partition, taken in this order.
    async with publishing(infra["ITSM_KAFKA_BOOTSTRAP"], "itsm/problems") as publish:
        await publish(known(known_error_id, 3, "rotate the logs hourly"), subject=problem_id)
        await publish(known(known_error_id, 2, "rotate the logs daily"), subject=problem_id)
        await publish(known(later_one, 1, "add a disk"), subject=problem_id)
    await article_of(later_one)  # so the ones before it were handled too
    assert await database_scalar("knowledge", "SELECT revision FROM known_errors WHERE id = $1", known_error_id) == 3
    shown = ok(await agent.get(f"{API}/articles/{await article_of(known_error_id)}"))
    assert "rotate the logs hourly" in shown["html"] and "daily" not in shown["html"]
    assert (shown["latest_version"], shown["version"]) == (1, 1), "the older revision wrote nothing"
