"""Issue 14's "done when", end to end through the gateway, against the real services, PostgreSQL and Kafka.

An alert storm on one CI opens incidents; the detection rule turns them into one candidate problem with all of
them linked (and a requester's incident on the same CI that comes after). The agent finds the root cause and
publishes a known error: every open linked incident gets the workaround as a work note. Resolving the problem with
"fix applied" and the option resolves them all. The requester's token sees none of the work notes.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.e2e.test_problem_management import if_match, move, ok
from tests.helpers import eventually, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"
WORKAROUND = "fail over to the standby load balancer (lb-standby), then restart the primary's health checker"


async def ci_rule(gateway: httpx.AsyncClient) -> dict:
    """The shipped rule that counts incidents on one CI (enabled by default)."""
    rules = ok_items(await gateway.get(f"{API}/detection-rules"))
    [rule] = [r for r in rules if r["dimension"] == "ci" and r["enabled"]]
    return rule


def ok_items(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_storm_on_one_ci_becomes_a_problem_whose_known_error_and_fix_reach_every_incident(gateway, platform):
    rule = await ci_rule(gateway)
    ci = f"lb-{uuid.uuid4().hex[:10]}"
    made = await gateway.post(f"{API}/integrations", json={
        "name": "storm-on-one-ci", "kind": "alertmanager",
        "routing_rules": [{"name": "the instance is the CI", "match_re": {"instance": ".+"},
                           "set": {"affected_ci": "{instance}"}}]})
    assert made.status_code == 201, made.text
    storm = rule["threshold"] + 2
    body = alertmanager_batch([alert(fp, instance=ci) for fp in fingerprints(storm)])
    accepted = await gateway.post(f"{API}/integrations/alertmanager", json=body,
                                  headers={"x-integration-key": made.json()["key"]})
    assert accepted.status_code == 202, accepted.text

    async with signed_in(platform, "agent-storm", "agent") as agent, \
            signed_in(platform, f"req-{uuid.uuid4().hex[:6]}", "requester") as requester:
        async def storm_incidents() -> list[dict]:
            items = ok_items(await agent.get(f"{API}/incidents", params={"affected_ci": ci, "limit": 200}))
            assert len(items) == storm
            return items
        incidents = await eventually(storm_incidents)

        # The requester's own incident on the same CI, after the storm: linked to the open candidate too.
        mine = ok(await requester.post(f"{API}/incidents", json={
            "short_description": "the shop is down for me", "affected_ci": ci, "impact": 2, "urgency": 2}), 201)
        every = {i["id"] for i in incidents} | {mine["id"]}

        async def one_problem_links_them_all() -> dict:
            found = {p["id"]: p for i in every
                     for p in ok_items(await agent.get(f"{API}/problems", params={"incident_id": i}))}
            assert len(found) == 1, found
            [problem] = found.values()
            assert set(problem["related_incidents"]) == every
            return problem
        problem = await eventually(one_problem_links_them_all)
        assert (problem["detection_rule_id"], problem["detected_on"], problem["detected_value"]) == (
            rule["id"], "ci", ci)
        assert problem["state"] == "new" and problem["opened_by"] == "system"

        async def incidents_show_it() -> None:
            shown = ok_items(await agent.get(f"{API}/incidents", params={"problem_id": problem["id"], "limit": 200}))
            assert {i["id"] for i in shown} == every
        await eventually(incidents_show_it)

        # The agent works the problem and publishes the known error.
        worked = await move(agent, await move(agent, ok(await agent.get(f"{API}/problems/{problem['id']}")),
                                              "assess"), "root_cause_analysis")
        worked = ok(await agent.post(f"{API}/problems/{problem['id']}/root-cause", headers=if_match(worked), json={
            "description": "the primary load balancer's health checker leaks sockets", "cause_code": "software"}))
        known = ok(await agent.post(f"{API}/problems/{problem['id']}/known-error", headers=if_match(worked), json={
            "symptoms": "the shop answers 503 for minutes at a time", "workaround": WORKAROUND}))

        async def workaround_on_each() -> None:
            for incident_id in every:
                notes = [e for e in ok_items(await agent.get(f"{API}/incidents/{incident_id}/activity",
                                                             params={"limit": 200}))
                         if e["kind"] == "work_note" and WORKAROUND in (e["text"] or "")]
                assert len(notes) == 1, (incident_id, notes)
                assert known["number"] in notes[0]["text"]
        await eventually(workaround_on_each)

        # Fixed: resolving with the option resolves every open linked incident with the problem's resolution.
        worked = ok(await agent.get(f"{API}/problems/{problem['id']}"))
        worked = await move(agent, worked, "fix_in_progress")
        resolved = ok(await agent.post(f"{API}/problems/{problem['id']}/resolve", headers=if_match(worked), json={
            "resolution_code": "fix_applied", "notes": "health checker 2.4.1 deployed",
            "resolve_linked_incidents": True}))
        assert resolved["state"] == "resolved"

        async def all_resolved() -> None:
            shown = ok_items(await agent.get(f"{API}/incidents", params={"problem_id": problem["id"], "limit": 200}))
            assert {(i["id"], i["state"]) for i in shown} == {(i, "resolved") for i in every}
            assert all(problem["number"] in i["resolution_notes"] for i in shown)
        await eventually(all_resolved)

        # The requester sees their incident resolved, its comments and changes, but none of the work notes.
        own = ok_items(await requester.get(f"{API}/incidents/{mine['id']}/activity", params={"limit": 200}))
        assert own and not [e for e in own if e["kind"] == "work_note" or WORKAROUND in (e["text"] or "")]
        assert (await requester.get(f"{API}/incidents/{incidents[0]['id']}")).status_code == 404
        assert (await requester.get(f"{API}/problems/{problem['id']}")).status_code == 403
        assert (await requester.get(f"{API}/known-errors/{known['id']}")).status_code == 403
