"""Search that ranks (issue 18), through the gateway against the real services: words by their stem, misspelled
words by trigram similarity of the title, the number; title matches above body matches; one list of incidents,
problems and changes for those who work them, a requester's own incidents only for a requester."""

from __future__ import annotations

import random
import string

import pytest

from tests.e2e.test_screens import hanging
from tests.helpers import ok, problem, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"


def word() -> str:
    """A word no other test writes (letters only, so it is one token to the parser and to pg_trgm)."""
    return "".join(random.choices(string.ascii_lowercase, k=12))


async def open_incident(client, short_description: str, **fields) -> dict:
    return ok(await client.post(f"{API}/incidents", json={"short_description": short_description, **fields}), 201)


async def search(client, q: str, **params) -> dict:
    return ok(await client.get(f"{API}/search", params={"q": q, **params}))


async def listed(client, q: str) -> list[str]:
    return [i["id"] for i in ok(await client.get(f"{API}/incidents", params={"q": q}))["items"]]


async def test_a_misspelled_word_finds_an_incident_by_its_title(gateway):
    tag = word()
    network = await open_incident(gateway, f"{tag} network outage in building four")
    database = await open_incident(gateway, f"{tag} orders database slow")
    assert await listed(gateway, f"netwrok {tag}") == [network["id"]]
    assert await listed(gateway, f"databse {tag}") == [database["id"]]
    found = await search(gateway, f"databse {tag}")
    assert [(h["record_type"], h["id"]) for h in found["items"]] == [("incident", database["id"])]
    assert await listed(gateway, f"kettle {tag}") == []  # a word in neither: nothing


async def test_a_title_match_ranks_above_a_body_only_match(gateway):
    tag = word()
    in_body = await open_incident(gateway, f"{tag} third floor", description="the printer shows an error")
    in_title = await open_incident(gateway, f"{tag} printer shows an error")
    hits = (await search(gateway, f"printer {tag}"))["items"]
    assert [h["id"] for h in hits] == [in_title["id"], in_body["id"]]
    assert hits[0]["score"] > hits[1]["score"]
    assert "<mark>printer</mark>" in hits[0]["highlight"] and "<mark>printer</mark>" in hits[1]["highlight"]
    assert (hits[0]["number"], hits[0]["title"]) == (in_title["number"], in_title["short_description"])


async def test_the_incident_list_q_finds_by_number_and_by_words(gateway):
    tag = word()
    made = await open_incident(gateway, f"{tag} mail outages", description="R&D users <b>cannot</b> send invoices",
                               impact=2, urgency=2)
    assert await listed(gateway, made["number"]) == [made["id"]]
    assert await listed(gateway, made["number"].lower()) == [made["id"]]
    assert await listed(gateway, f"{tag} outage") == [made["id"]]  # stemmed: outages
    assert await listed(gateway, f"{tag} invoice send") == [made["id"]]  # the body, any order
    assert await listed(gateway, f"the {tag}") == [made["id"]]  # a stop word asks nothing
    hit = (await search(gateway, f"invoices {tag}"))["items"][0]
    assert "<mark>invoices</mark>" in hit["highlight"] and "R&amp;D" in hit["highlight"]  # HTML-safe
    assert "<b>" not in hit["highlight"]


async def test_one_search_ranks_incidents_problems_and_changes_together_for_an_agent(platform, gateway):
    tag = word()
    incident = await open_incident(gateway, f"{tag} checkout errors", description="checkout fails")
    prb = ok(await gateway.post(f"{API}/problems", json={
        "short_description": f"{tag} checkout errors after deploys", "impact": 2, "urgency": 1}), 201)
    chg = ok(await gateway.post(f"{API}/changes", json={
        "short_description": f"{tag} roll back", "description": "checkout release", "change_type": "normal",
        "planned_start": "2031-03-01T22:00:00Z", "planned_end": "2031-03-01T23:00:00Z"}), 201)
    async with signed_in(platform, f"agent-{tag}", "agent") as agent:
        found = await search(agent, f"{tag} checkout")
    assert found["partial"] == []
    hits = found["items"]
    assert {(h["record_type"], h["id"]) for h in hits} == {
        ("incident", incident["id"]), ("problem", prb["id"]), ("change", chg["id"])}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert hits[-1]["record_type"] == "change"  # checkout only in its body
    assert {h["number"] for h in hits} == {incident["number"], prb["number"], chg["number"]}
    assert len((await search(gateway, f"{tag} checkout", limit=2))["items"]) == 2


async def test_a_requester_finds_only_their_own_incidents(platform, gateway):
    tag = word()
    async with signed_in(platform, f"ann-{tag}", "requester") as ann:
        mine = await open_incident(ann, f"{tag} laptop will not boot")
        await open_incident(gateway, f"{tag} laptop screen broken", caller=f"carol-{tag}")
        ok(await gateway.post(f"{API}/problems", json={
            "short_description": f"{tag} laptop boot failures", "impact": 2, "urgency": 2}), 201)
        found = await search(ann, f"{tag} laptop")
        assert [(h["record_type"], h["id"]) for h in found["items"]] == [("incident", mine["id"])]
        assert found["partial"] == []
    everything = await search(gateway, f"{tag} laptop")
    assert sorted(h["record_type"] for h in everything["items"]) == ["incident", "incident", "problem"]


async def test_a_service_that_does_not_answer_is_named_in_partial(platform, gateway):
    tag = word()
    incident = await open_incident(gateway, f"{tag} badge reader offline")
    with hanging(platform, "changes"):
        found = await search(gateway, f"{tag} badge")
    assert found["partial"] == ["change"]
    assert [h["id"] for h in found["items"]] == [incident["id"]]


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "   "}, {"q": "x" * 201}, {"q": "disk", "limit": 0},
                                    {"q": "disk", "limit": 51}, {}])
async def test_a_search_text_that_is_empty_or_too_long_is_refused(gateway, params):
    body = problem(await gateway.get(f"{API}/search", params=params), 422)
    assert body["status"] == 422
