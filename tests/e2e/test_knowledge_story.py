"""Issue 18's done-when, through the gateway against real PostgreSQL and Kafka: a problem's known error becomes a
draft article that an agent publishes for requesters; a requester finds it by a misspelled word but never an
agents-only article with the same words; an incident with the same symptom gets it as the first suggestion, and
attaching it shows on the incident's timeline; one search returns incidents, problems, changes and articles ranked
together."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.test_knowledge_search import articles_in, drafted_article, published, search, word
from tests.e2e.test_known_errors import analysed_problem
from tests.helpers import eventually, if_match, ok, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"


async def test_a_known_error_becomes_an_article_that_requesters_find_and_incidents_are_offered(platform):
    tag, ci = word(), str(uuid.uuid4())
    async with (signed_in(platform, f"agent-{tag}", "agent") as agent,
                signed_in(platform, f"reviewer-{tag}", "agent") as reviewer,
                signed_in(platform, f"ann-{tag}", "requester") as ann):
        # An analysed problem's known error is published ...
        problem = await analysed_problem(agent, short_description=f"{tag} VPN tunnel drops for remote staff",
                                         affected_cis=[ci])
        known = ok(await agent.post(f"{API}/problems/{problem['id']}/known-error", headers=if_match(problem), json={
            "symptoms": "The VPN tunnel drops every hour and remote sessions are lost.",
            "workaround": "Reconnect with the backup VPN profile."}))

        # ... and a draft article appears, linked back to it.
        async def drafted() -> dict:
            page = ok(await agent.get(f"{API}/articles", params={"state": "draft", "limit": 200}))
            found = [a for a in page["items"] if a.get("known_error_id") == known["id"]]
            assert len(found) == 1, page
            return found[0]
        article = await eventually(drafted)
        assert tag in article["title"] and article["audience"] == "agents"

        # An agent makes it for requesters, submits it and publishes it (the system wrote it: any agent may).
        article = ok(await agent.patch(f"{API}/articles/{article['id']}", headers=if_match(article),
                                       json={"audience": "requesters"}))
        article = await published(agent, agent, article)
        # The same words in an article for agents only.
        desk_only = await published(agent, reviewer, await drafted_article(
            agent, f"{tag} VPN tunnel drops for remote staff", "Check the concentrator's IKE logs.",
            audience="agents"))

        # A requester finds it by a misspelled word, and never the agents-only one.
        found = await search(ann, f"{tag} tunel")
        assert articles_in(found) == [article["id"]] and found["partial"] == []
        assert set(articles_in(await search(agent, f"{tag} tunel"))) == {article["id"], desk_only["id"]}

        # An incident with the same symptom, on the CI, gets it first: the known error folded into its article.
        incident = ok(await agent.post(f"{API}/incidents", json={
            "short_description": "Remote user keeps losing the VPN",
            "description": f"{tag}: the tunnel drops every hour and the session is lost.", "affected_ci": ci}), 201)
        suggestions = ok(await agent.get(f"{API}/incidents/{incident['id']}/suggestions"))
        first = suggestions[0]
        assert (first["kind"], first["id"], first["known_error_id"]) == ("article", article["id"], known["id"])
        assert "same_ci" in first["reasons"] and "text" in first["reasons"]
        assert known["id"] not in [s["id"] for s in suggestions]  # one entry: the article

        # Attaching it records that it helped, on the incident's timeline too.
        attached = ok(await agent.post(f"{API}/incidents/{incident['id']}/articles",
                                       json={"article_id": article["id"]}), 201)
        assert attached["attached"] == 1

        async def noted() -> None:
            page = ok(await agent.get(f"{API}/incidents/{incident['id']}/activity"))
            assert f"Knowledge article {article['number']} '{article['title']}' attached: it helped resolve this" in [
                e["text"] for e in page["items"] if e["kind"] == "work_note"]
        await eventually(noted)

        # One search: incidents, problems, changes and articles, ranked together.
        change = ok(await agent.post(f"{API}/changes", json={
            "short_description": f"{tag} replace the VPN concentrator", "description": "tunnel drops",
            "change_type": "normal", "planned_start": "2031-03-01T22:00:00Z",
            "planned_end": "2031-03-01T23:00:00Z"}), 201)
        everything = await search(agent, f"{tag} vpn")
        kinds = {(h["record_type"], h["id"]) for h in everything["items"]}
        assert {("incident", incident["id"]), ("problem", problem["id"]), ("change", change["id"]),
                ("article", article["id"]), ("article", desk_only["id"])} <= kinds
        assert {h["record_type"] for h in everything["items"]} == {"incident", "problem", "change", "article"}
        scores = [h["score"] for h in everything["items"]]
        assert scores == sorted(scores, reverse=True) and everything["partial"] == []
