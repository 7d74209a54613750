"""Suggestions while working (issue 18), through the gateway against the real services: an incident's or request's
text finds the published articles that may help, what helped before ranks first, and attaching an article records
that it helped (once per record) and shows on the incident's timeline."""

from __future__ import annotations

import uuid

import pytest

from itsm_contracts.events.knowledge import ArticleAttached
from tests.e2e.test_knowledge_search import drafted_article, published_article, word
from tests.e2e.test_requests import GOOD_ANSWERS, LAPTOP_FORM, TWO_TASKS
from tests.helpers import database_scalar, eventually, ok, problem, publishing, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
NOTE = "Knowledge article {number} '{title}' attached: it helped resolve this"


async def suggestions(agent, record: str, record_id: str, **params) -> list[dict]:
    return ok(await agent.get(f"{API}/{record}/{record_id}/suggestions", params=params))


async def article_as_seen(agent, article_id: str) -> dict:
    return ok(await agent.get(f"{API}/articles/{article_id}"))


async def work_notes(agent, incident_id: str) -> list[str]:
    page = ok(await agent.get(f"{API}/incidents/{incident_id}/activity", params={"limit": 200}))
    return [e["text"] for e in page["items"] if e["kind"] == "work_note"]


async def test_an_incident_gets_the_matching_articles_and_the_one_that_helped_before_comes_first(platform):
    tag = word()
    title, body = f"{tag} printer prints blank pages", "Reinstall the driver from the print server."
    one = await published_article(platform, title, body, audience="agents")
    other = await published_article(platform, title, body, audience="agents")
    async with signed_in(platform, f"agent-{tag}", "agent") as agent:
        incident = ok(await agent.post(f"{API}/incidents", json={
            "short_description": "Third floor printing problem",
            "description": f"Every job comes out as blank pages since this morning; toner is new. {tag}"}), 201)
        found = await suggestions(agent, "incidents", incident["id"])
        assert {s["id"] for s in found[:2]} == {one["id"], other["id"]}  # its tag: any other shares fewer words
        assert all(s["kind"] == "article" and s["reasons"] == ["text"] for s in found[:2])
        assert found[0]["score"] == found[1]["score"]  # the same text
        behind = found[1]["id"]

        earlier = ok(await agent.post(f"{API}/incidents", json={"short_description": f"{tag} blank pages"}), 201)
        attached = ok(await agent.post(f"{API}/incidents/{earlier['id']}/articles", json={"article_id": behind}), 201)
        assert attached["record_type"] == "incident" and attached["record_id"] == earlier["id"]
        assert (attached["article_id"], attached["attached"]) == (behind, 1)
        again = ok(await agent.post(f"{API}/incidents/{earlier['id']}/articles", json={"article_id": behind}), 201)
        assert again["attached"] == 1  # once per record

        found = await suggestions(agent, "incidents", incident["id"])
        assert found[0]["id"] == behind and found[0]["reasons"] == ["text", "helped"]
        assert found[0]["score"] > found[1]["score"]
        assert [s["id"] for s in await suggestions(agent, "incidents", incident["id"], limit=1)] == [behind]
        problem(await agent.get(f"{API}/incidents/{incident['id']}/suggestions", params={"limit": 21}), 422)

        article = await article_as_seen(agent, behind)
        note = NOTE.format(number=article["number"], title=title)

        async def noted() -> None:
            assert await work_notes(agent, earlier["id"]) == [note]  # once, however often attached
        await eventually(noted)


async def test_attaching_to_an_unknown_incident_or_request_is_a_404_and_nothing_is_recorded(platform):
    tag = word()
    article = await published_article(platform, f"{tag} reset a token", "Use the portal.")
    async with signed_in(platform, f"agent-{tag}", "agent") as agent:
        for record in ("incidents", "requests"):
            missing = str(uuid.uuid4())
            body = problem(await agent.post(f"{API}/{record}/{missing}/articles", json={"article_id": article["id"]}),
                           404)
            assert missing in body["detail"]
        assert (await article_as_seen(agent, article["id"]))["attached"] == 0


async def test_an_article_the_agent_may_not_read_or_not_published_is_not_attached(platform):
    tag = word()
    theirs = await published_article(platform, f"{tag} payroll export", "Split the file.", audience="group",
                                     audience_group=f"payroll-{tag}")
    async with signed_in(platform, f"agent-{tag}", "agent") as agent:
        incident = ok(await agent.post(f"{API}/incidents", json={"short_description": f"{tag} payroll"}), 201)
        problem(await agent.post(f"{API}/incidents/{incident['id']}/articles", json={"article_id": theirs["id"]}),
                404)
        draft = await drafted_article(agent, f"{tag} payroll draft", "Not yet.")
        problem(await agent.post(f"{API}/incidents/{incident['id']}/articles", json={"article_id": draft["id"]}),
                409)
    async with signed_in(platform, f"member-{tag}", "agent", groups=[f"payroll-{tag}"]) as member:
        assert (await article_as_seen(member, theirs["id"]))["attached"] == 0
        assert (await article_as_seen(member, draft["id"]))["attached"] == 0


async def test_suggestions_and_attaching_are_for_those_who_work_records(platform):
    tag = word()
    async with signed_in(platform, f"ann-{tag}", "requester") as ann:
        mine = ok(await ann.post(f"{API}/incidents", json={"short_description": f"{tag} laptop will not boot"}), 201)
        problem(await ann.get(f"{API}/incidents/{mine['id']}/suggestions"), 403)
        problem(await ann.post(f"{API}/incidents/{mine['id']}/articles", json={"article_id": "x"}), 403)


async def test_a_request_gets_articles_by_what_was_ordered_and_may_have_one_attached(platform, gateway):
    tag = word()
    article = await published_article(platform, f"{tag} hardware token setup", "Pair the token in the portal.",
                                      audience="agents")
    category = ok(await gateway.post(f"{API}/catalog/categories", json={"name": f"security-{tag}"}), 201)
    item = ok(await gateway.post(f"{API}/catalog/items", json={
        "name": f"Hardware token {tag}", "category_id": category["id"], "short_description": "A token for sign-in",
        "form": LAPTOP_FORM, "flow": [TWO_TASKS], "groups": []}), 201)
    async with signed_in(platform, f"ann-{tag}", "requester") as ann:
        request = ok(await ann.post(f"{API}/requests", json={"items": [
            {"catalog_item_id": item["id"], "answers": GOOD_ANSWERS}]}), 201)
    async with signed_in(platform, f"agent-{tag}", "agent") as agent:
        found = await suggestions(agent, "requests", request["id"])
        assert found[0]["id"] == article["id"] and found[0]["highlight"]
        attached = ok(await agent.post(f"{API}/requests/{request['id']}/articles", json={"article_id": article["id"]}),
                      201)
        assert (attached["record_type"], attached["record_id"], attached["attached"]) == (
            "request", request["id"], 1)


async def test_an_attachment_naming_an_unknown_incident_is_skipped_and_the_next_is_noted(platform, infra):
    tag = word()
    article = await published_article(platform, f"{tag} mailbox full", "Archive old mail.")
    async with signed_in(platform, f"agent-{tag}", "agent") as agent:
        incident = ok(await agent.post(f"{API}/incidents", json={"short_description": f"{tag} mailbox full"}), 201)
        async with publishing(infra["ITSM_KAFKA_BOOTSTRAP"], "itsm/knowledge") as publish:
            unknown = await publish(ArticleAttached(
                article_id=article["id"], number=article["number"], title=article["title"], record_type="incident",
                record_id=str(uuid.uuid4()), attached_at="2026-12-05T09:00:00Z", actor=f"agent-{tag}"),
                subject=article["id"], sequence=1000)
        ok(await agent.post(f"{API}/incidents/{incident['id']}/articles", json={"article_id": article["id"]}), 201)
        note = NOTE.format(number=article["number"], title=article["title"])

        async def noted() -> None:
            assert await work_notes(agent, incident["id"]) == [note]
        await eventually(noted)
        # Skipped as handled, not failed over and over until dead-lettered.
        assert await database_scalar("incidents", "SELECT outcome FROM inbox WHERE event_id = $1",
                                     unknown.id) == "handled"
