"""Knowledge articles through the gateway (issue 18), against the real knowledge service, PostgreSQL and Kafka.

An article is drafted, reviewed (returned, resubmitted) and published by a second agent (its writer may not); an edit
drafts v2 while v1 stays as readers see it, and publishing v2 retires v1. Requesters read only the published articles
meant for them (anything else is a 404); feedback counts once per person and views once per reader and day; bad
input writes nothing; the review queue finds stale articles.
"""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from itsm_contracts import CloudEvent, topics
from tests.helpers import database_scalar, if_match, ok, problem, read_topic, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def writer(platform):
    async with signed_in(platform, unique("kb-writer"), "agent", groups=["kb-desk"]) as client:
        yield client


@pytest.fixture
async def reviewer(platform):
    async with signed_in(platform, unique("kb-reviewer"), "agent", groups=["kb-desk"]) as client:
        yield client


async def article(client, **fields) -> dict:
    body = {"title": "Reset your VPN token", "body": "## Steps\n\n1. Open the portal\n2. Press **reset**",
            "audience": "requesters", "category": "access", "tags": ["vpn"], **fields}
    return ok(await client.post(f"{API}/articles", json=body), 201)


async def step(client, record: dict, verb: str, status: int = 200, **body) -> dict:
    response = await client.post(f"{API}/articles/{record['id']}/{verb}", headers=if_match(record),
                                 json=body or None)
    return ok(response) if status == 200 else problem(response, status)


async def published(writer, reviewer, **fields) -> dict:
    drafted = await article(writer, **fields)
    return await step(reviewer, await step(writer, drafted, "submit"), "publish")


async def test_an_article_is_reviewed_published_by_another_agent_and_revised(infra, writer, reviewer):
    drafted = await article(writer)
    assert (drafted["state"], drafted["latest_version"], drafted["published_version"], drafted["source"]) == (
        "draft", 1, None, "written")
    assert drafted["number"].startswith("KB") and drafted["html"].startswith("<h2>Steps</h2>")
    submitted = await step(writer, drafted, "submit")
    returned = await step(reviewer, submitted, "return", reason="say which portal")
    assert returned["state"] == "draft"
    v1 = ok(await writer.get(f"{API}/articles/{drafted['id']}/versions/1"))
    assert (v1["state"], v1["returned_reason"]) == ("draft", "say which portal")
    edited = ok(await writer.patch(f"{API}/articles/{drafted['id']}/versions/1", headers=if_match(returned),
                                   json={"body": "## Steps\n\n1. Open https://vpn.example.org\n2. Press **reset**"}))
    assert edited["written_by"] == drafted["written_by"]
    current = ok(await writer.get(f"{API}/articles/{drafted['id']}"))
    resubmitted = await step(writer, current, "submit")

    refusal = await step(writer, resubmitted, "publish", 409)
    assert "four-eyes" in refusal["detail"] and refusal["written_by"] == drafted["written_by"]
    assert ok(await writer.get(f"{API}/articles/{drafted['id']}"))["state"] == "review", "nothing written"
    v1_published = await step(reviewer, resubmitted, "publish")
    assert (v1_published["state"], v1_published["published_version"]) == ("published", 1)
    assert v1_published["approved_by"] not in (None, v1_published["written_by"])
    assert v1_published["review_by"] is not None and not v1_published["stale"]
    shown_v1 = v1_published["html"]

    # An edit of a published article drafts v2; readers still see v1, unchanged.
    v2 = ok(await writer.post(f"{API}/articles/{drafted['id']}/versions", headers=if_match(v1_published),
                              json={"body": "## Steps\n\nUse the new self-service page.", "change_note": "new page"}),
            201)
    assert (v2["number"], v2["state"], v2["title"]) == (2, "draft", "Reset your VPN token"), "title copied"
    assert problem(await writer.post(f"{API}/articles/{drafted['id']}/versions", json={}), 409)["open_version"] == 2
    assert problem(await writer.patch(f"{API}/articles/{drafted['id']}/versions/1", json={"title": "x"}), 409)
    meanwhile = ok(await writer.get(f"{API}/articles/{drafted['id']}"))
    assert (meanwhile["state"], meanwhile["html"], meanwhile["latest_version"]) == ("published", shown_v1, 2)
    assert ok(await writer.get(f"{API}/articles/{drafted['id']}/versions/1"))["state"] == "published"

    v2_published = await step(reviewer, await step(writer, meanwhile, "submit"), "publish")
    assert (v2_published["published_version"], v2_published["html"]) == (
        2, "<h2>Steps</h2>\n<p>Use the new self-service page.</p>\n")
    versions = ok(await writer.get(f"{API}/articles/{drafted['id']}/versions"))["items"]
    assert [(v["number"], v["state"]) for v in versions] == [(1, "retired"), (2, "published")]

    timeline = ok(await writer.get(f"{API}/articles/{drafted['id']}/activity"))["items"]
    assert [(e["field"], e["new_value"]) for e in timeline if e["field"] and e["field"].endswith(".state")][:3] == [
        ("v2.state", "published"), ("v1.state", "retired"), ("v2.state", "review")]
    assert timeline[-1]["kind"] == "opened"

    retired = await step(reviewer, v2_published, "retire")
    assert (retired["state"], retired["published_version"]) == ("retired", None)
    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.KNOWLEDGE, until=lambda rs: any(
        e.subject == drafted["id"] and e.type == "itsm.knowledge.article_retired" and e.data["article_version"] == 2
        for e in map(CloudEvent.from_json, (r.value for r in rs))))
    kinds = [(e.type.rsplit(".", 1)[1], e.data["article_version"])
             for e in map(CloudEvent.from_json, (r.value for r in records)) if e.subject == drafted["id"]]
    assert kinds == [("article_drafted", 1), ("article_submitted", 1), ("article_returned", 1),
                     ("article_submitted", 1), ("article_published", 1), ("article_drafted", 2),
                     ("article_submitted", 2), ("article_retired", 1), ("article_published", 2),
                     ("article_retired", 2)]


async def test_a_requester_reads_only_published_articles_meant_for_them(platform):
    group, other, tag = unique("kb-net"), unique("kb-other"), unique("wifi")
    # Agents read (and so write) the articles of their own groups only.
    async with signed_in(platform, unique("kb-writer"), "agent", groups=[group, other]) as writer, \
            signed_in(platform, unique("kb-reviewer"), "agent", groups=[group, other]) as reviewer:
        for_all = await published(writer, reviewer, tags=[tag])
        for_group = await published(writer, reviewer, tags=[tag], audience="group", audience_group=group)
        for_agents = await published(writer, reviewer, tags=[tag], audience="agents")
        for_another = await published(writer, reviewer, tags=[tag], audience="group", audience_group=other)
        draft = await article(writer, tags=[tag])

    async with signed_in(platform, unique("kb-requester"), "requester", groups=[group]) as requester:
        for hidden in (for_agents, for_another, draft):
            assert "does not exist" in problem(await requester.get(f"{API}/articles/{hidden['id']}"), 404)["detail"]
            problem(await requester.get(f"{API}/articles/{hidden['id']}", params={"reader": "admin"}), 404)
            problem(await requester.post(f"{API}/articles/{hidden['id']}/feedback", json={"helpful": True}), 404)
        assert ok(await requester.get(f"{API}/articles/{for_group['id']}"))["audience_group"] == group
        listed = ok(await requester.get(f"{API}/articles", params={"tag": tag, "reader": "admin"}))["items"]
        assert sorted(a["id"] for a in listed) == sorted([for_all["id"], for_group["id"]])
        assert ok(await requester.get(f"{API}/articles", params={"tag": tag, "state": "draft"}))["items"] == []
        assert (await requester.post(f"{API}/articles", json={"title": "x", "body": "y", "audience": "agents"})
                ).status_code == 403
        assert (await requester.get(f"{API}/articles/{for_all['id']}/versions")).status_code == 403

    async with signed_in(platform, unique("kb-agent"), "agent") as agent:
        listed = ok(await agent.get(f"{API}/articles", params={"tag": tag}))["items"]
        assert sorted(a["id"] for a in listed) == sorted([for_all["id"], for_agents["id"], draft["id"]])
        problem(await agent.get(f"{API}/articles/{for_group['id']}"), 404)


async def test_feedback_counts_once_per_person_and_views_once_per_reader_and_day(platform, writer, reviewer):
    shown = await published(writer, reviewer)
    url = f"{API}/articles/{shown['id']}"
    async with signed_in(platform, unique("kb-reader"), "requester") as one, \
            signed_in(platform, unique("kb-reader"), "requester") as two:
        ok(await one.post(f"{url}/feedback", json={"helpful": True}))
        ok(await one.post(f"{url}/feedback", json={"helpful": True, "comment": "still good"}))
        rated = ok(await two.post(f"{url}/feedback", json={"helpful": True}))
        assert (rated["helpful"], rated["not_helpful"]) == (2, 0)
        changed = ok(await one.post(f"{url}/feedback", json={"helpful": False, "comment": "the portal moved"}))
        assert (changed["helpful"], changed["not_helpful"]) == (1, 1), "a later vote replaces theirs"
        assert changed["version"] == shown["version"], "votes are no edit: the ETag stays"
        problem(await one.post(f"{url}/feedback", json={"helpful": "yes"}), 422)
        problem(await one.post(f"{url}/feedback", json={"helpful": True, "comment": "x" * 2001}), 422)

        assert ok(await one.get(url))["views"] == 1
        assert ok(await one.get(url))["views"] == 1, "reloading counts nothing"
        assert ok(await two.get(url))["views"] == 2
    assert await database_scalar("knowledge", "SELECT count(*) FROM article_views WHERE article_id = $1",
                                 shown["id"]) == 2
    assert await database_scalar("knowledge", "SELECT count(*) FROM article_feedback WHERE article_id = $1",
                                 shown["id"]) == 2
    drafted = await article(writer)
    assert "not published" in problem(await writer.post(f"{API}/articles/{drafted['id']}/feedback",
                                                        json={"helpful": True}), 409)["detail"]
    assert ok(await writer.get(f"{API}/articles/{drafted['id']}"))["views"] == 0, "a draft is not viewed"


async def test_bad_input_writes_nothing(platform, reviewer):
    subject = unique("kb-careless")
    async with signed_in(platform, subject, "agent") as careless:
        good = {"title": "Printer jams", "body": "Open tray 2.", "audience": "requesters"}
        for bad in ({**good, "title": ""}, {**good, "title": "x" * 201}, {**good, "body": "   "},
                    {**good, "audience": "everyone"}, {**good, "audience": "group"},
                    {**good, "audience": "agents", "audience_group": "kb-desk"},
                    {**good, "tags": ["x" * 51]}, {**good, "tags": [f"t{n}" for n in range(21)]},
                    {**good, "body": "x" * 200_001}, {**good, "review_by": 20270101}, {**good, "reader": "admin"},
                    {key: value for key, value in good.items() if key != "title"}):
            problem(await careless.post(f"{API}/articles", json=bad), 422)
        assert await database_scalar("knowledge", "SELECT count(*) FROM articles WHERE created_by = $1", subject) == 0

        drafted = await article(careless)
        url = f"{API}/articles/{drafted['id']}"
        problem(await careless.patch(url, json={"audience": "group"}), 422)
        problem(await careless.patch(url, json={"audience_group": "kb-desk"}), 422)
        problem(await careless.patch(url, json={}), 422)
        problem(await careless.patch(url, json={"views": 5}), 422)
        problem(await careless.patch(url, json={"tags": ["a"]}, headers={"if-match": '"99"'}), 412)
        problem(await careless.patch(f"{url}/versions/1", json={"body": "y" * 200_001}), 422)
        problem(await careless.post(f"{url}/return", json={"reason": "   "}), 422)
        problem(await careless.post(f"{url}/publish"), 409)
        problem(await careless.get(f"{url}/versions/7"), 404)
        assert ok(await careless.get(url))["version"] == drafted["version"]
        assert await database_scalar("knowledge", "SELECT count(*) FROM article_activity WHERE article_id = $1",
                                     drafted["id"]) == 2  # opened, v1 drafted

        filed = ok(await careless.patch(url, headers=if_match(drafted), json={
            "audience": "group", "audience_group": "kb-desk", "tags": ["vpn", "VPN", "wifi"], "category": "network"}))
        assert (filed["audience_group"], filed["tags"], filed["latest_version"], filed["version"]) == (
            "kb-desk", ["vpn", "wifi"], 1, drafted["version"] + 1)


async def test_the_review_queue_lists_stale_articles(platform, writer, reviewer):
    tag = unique("stale")
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    stale = await published(writer, reviewer, tags=[tag], review_by=yesterday)
    fresh = await published(writer, reviewer, tags=[tag])
    assert (stale["stale"], fresh["stale"]) == (True, False)
    queue = ok(await writer.get(f"{API}/articles", params={"tag": tag, "stale": "true"}))["items"]
    assert [a["id"] for a in queue] == [stale["id"]]
    assert [a["id"] for a in ok(await writer.get(f"{API}/articles", params={"tag": tag, "stale": "false"}))[
        "items"]] == [fresh["id"]]
    reviewed = await step(writer, stale, "reviewed")
    assert not reviewed["stale"] and reviewed["review_by"] > yesterday
    assert ok(await writer.get(f"{API}/articles", params={"tag": tag, "stale": "true"}))["items"] == []


async def test_attaching_an_article_to_a_record_counts_once_and_is_not_at_the_gateway(infra, platform, writer,
                                                                                      reviewer):
    from itsm_kit.internal_auth import Signer

    shown = await published(writer, reviewer)
    incident = str(uuid.uuid4())
    signer = Signer(platform.internal_key)
    async with httpx.AsyncClient(base_url=platform.url("knowledge"), timeout=30,
                                 headers=signer.headers("knowledge", "agent-attach")) as knowledge:
        first = ok(await knowledge.post(f"/articles/{shown['id']}/uses",
                                        json={"record_type": "incident", "record_id": incident}))
        again = ok(await knowledge.post(f"/articles/{shown['id']}/uses",
                                        json={"record_type": "incident", "record_id": incident}))
        assert (first["attached"], again["attached"], again["version"]) == (1, 1, first["version"])
        assert first["version"] == shown["version"] + 1
        other = ok(await knowledge.post(f"/articles/{shown['id']}/uses",
                                        json={"record_type": "request", "record_id": incident}))
        assert other["attached"] == 2
        problem(await knowledge.post(f"/articles/{shown['id']}/uses", json={"record_type": "change",
                                                                          "record_id": incident}), 422)
        drafted = await article(writer)
        problem(await knowledge.post(f"/articles/{drafted['id']}/uses",
                                     json={"record_type": "incident", "record_id": incident}), 409)
        assert await database_scalar("knowledge", "SELECT count(*) FROM article_uses WHERE article_id = $1",
                                     drafted["id"]) == 0
    assert (await writer.post(f"{API}/articles/{shown['id']}/uses",
                              json={"record_type": "incident", "record_id": incident})).status_code in (404, 405)
    timeline = ok(await writer.get(f"{API}/articles/{shown['id']}/activity"))["items"]
    assert [line["new_value"] for line in timeline if line["field"] == "attached"] == [
        f"request {incident}", f"incident {incident}"]
    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.KNOWLEDGE, until=lambda rs: sum(
        1 for e in map(CloudEvent.from_json, (r.value for r in rs))
        if e.subject == shown["id"] and e.type == "itsm.knowledge.article_attached") >= 2)
    attached = [e.data["record_type"] for e in map(CloudEvent.from_json, (r.value for r in records))
                if e.subject == shown["id"] and e.type == "itsm.knowledge.article_attached"]
    assert attached == ["incident", "request"], "attaching again announced nothing"
