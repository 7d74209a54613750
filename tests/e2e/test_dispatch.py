"""Issue 17, automatic dispatch, through the gateway against real Kafka and PostgreSQL: admins order the rules; a dry
run shows what would be decided and writes nothing; a rule change applies to the next decision in every process;
incidents (from an alert with no routing rule, or opened by hand) and problems opened without an assignee are
dispatched by the rules and the group's method, and the decisions keep the rule's name and version as they were.

Members come from the directory (people and groups made through the gateway reach the requests service's copy on
itsm.directory); CIs from the CMDB (itsm.cmdb). Each test removes its rules, so other tests' records are left alone.
"""

from __future__ import annotations

import uuid

import pytest

from itsm_contracts import CloudEvent, topics
from itsm_requests.domain.dispatch import Member
from tests.alerts import alert, alertmanager_batch, fingerprints
from tests.helpers import eventually, if_match, ok, problem, read_topic, service_sessions, signed_in

pytestmark = pytest.mark.e2e

API = "/api/v1"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def rules(gateway):
    """Makes rules (at position 1 by default, ahead of any another test left) and removes them afterwards."""
    made: list[str] = []

    async def make(**body) -> dict:
        defaults = {"position": 1, "record_types": ["incident"]}
        rule = ok(await gateway.post(f"{API}/dispatch/rules", json=defaults | body), 201)
        made.append(rule["id"])
        return rule

    yield make
    for rule_id in made:
        assert (await gateway.delete(f"{API}/dispatch/rules/{rule_id}")).status_code in (204, 404)


@pytest.fixture
async def agent(platform):
    async with signed_in(platform, unique("agent"), "agent") as client:
        yield client


async def team(gateway, *members: tuple[str, bool], method: str, location: str | None = None) -> tuple[str, list]:
    """A directory group of new people ((name, active) each; usernames sort in the order given), its dispatch method
    set, once the requests service's copy has it: the group's name and the usernames."""
    run = uuid.uuid4().hex[:8]
    usernames = []
    for i, (name, active) in enumerate(members):
        username = f"{chr(ord('a') + i)}-{name}-{run}"
        ok(await gateway.post(f"{API}/people", json={"username": username, "name": name.title(), "active": active,
                                                     "location": location}), 201)
        usernames.append(username)
    group = f"team-{run}"
    ok(await gateway.post(f"{API}/groups", json={"name": group, "members": usernames}), 201)
    assert ok(await gateway.put(f"{API}/dispatch/groups/{group}", json={"method": method}), 201)["method"] == method
    active = [u for u, (_, is_active) in zip(usernames, members, strict=True) if is_active]

    async def copied():
        groups = {g["name"]: g for g in ok(await gateway.get(f"{API}/dispatch/groups"))["items"]}
        assert groups[group]["members"] == active, groups[group]
    await eventually(copied, timeout=60)
    return group, usernames


async def rule_order(gateway) -> list[dict]:
    items = ok(await gateway.get(f"{API}/dispatch/rules"))["items"]
    assert [r["position"] for r in items] == list(range(1, len(items) + 1))  # no gaps, no repeats
    return items


async def test_admins_order_the_rules_and_the_desk_reads_them(gateway, agent, rules):
    run = uuid.uuid4().hex[:8]
    body = {"name": f"{run} a", "record_types": ["incident", "problem"], "assignment_group": "service-desk",
            "conditions": {"category": ["network"], "priority": [1, 2]}}
    problem(await agent.post(f"{API}/dispatch/rules", json=body), 403)
    before = len(await rule_order(gateway))

    for bad in ({"conditions": {"colour": ["red"]}}, {"conditions": {"category": []}},
                {"conditions": {"priority": [7]}}, {"record_types": ["change"]}, {"record_types": []},
                {"assignment_group": ""}, {"position": 0}):
        problem(await gateway.post(f"{API}/dispatch/rules", json=body | bad), 422)
    assert len(await rule_order(gateway)) == before  # nothing written

    a = await rules(**body, position=None)
    assert (a["position"], a["version"], a["enabled"]) == (before + 1, 1, True)  # last by default
    b = await rules(name=f"{run} b", assignment_group="network-ops")
    await rules(name=f"{run} c", assignment_group="dba", position=2)
    problem(await gateway.post(f"{API}/dispatch/rules", json=body | {"name": f"{run} A"}), 409)  # names are unique

    mine = [r["name"] for r in await rule_order(gateway) if r["name"].startswith(run)]
    assert mine == [f"{run} b", f"{run} c", f"{run} a"]
    assert ok(await agent.get(f"{API}/dispatch/rules/{a['id']}"))["position"] == before + 3

    problem(await agent.patch(f"{API}/dispatch/rules/{a['id']}", json={"position": 1}, headers=if_match(a)), 403)
    moved = ok(await gateway.patch(f"{API}/dispatch/rules/{a['id']}", json={"position": 1}, headers=if_match(a)))
    assert (moved["position"], moved["version"]) == (1, 2)
    problem(await gateway.patch(f"{API}/dispatch/rules/{a['id']}", json={"enabled": False}, headers=if_match(a)), 412)
    mine = [r["name"] for r in await rule_order(gateway) if r["name"].startswith(run)]
    assert mine == [f"{run} a", f"{run} b", f"{run} c"]

    back = ok(await gateway.patch(f"{API}/dispatch/rules/{a['id']}", json={"position": 99_999},
                                  headers=if_match(moved)))
    assert back["position"] == before + 3  # past the end: last

    problem(await gateway.delete(f"{API}/dispatch/rules/{b['id']}", headers=if_match({"version": 9})), 412)
    assert (await gateway.delete(f"{API}/dispatch/rules/{b['id']}", headers=if_match(b))).status_code == 204
    problem(await gateway.get(f"{API}/dispatch/rules/{b['id']}"), 404)
    mine = [(r["name"], r["position"]) for r in await rule_order(gateway) if r["name"].startswith(run)]
    assert mine == [(f"{run} c", 1), (f"{run} a", before + 2)]


async def test_a_dry_run_shows_the_decision_and_writes_nothing(gateway, agent, platform, rules):
    run = uuid.uuid4().hex[:8]
    site = f"Lyon-{run}"
    group, (alice, _bob) = await team(gateway, ("alice", True), ("bob", True), method="round_robin", location=site)
    owner = f"dba-{run}"
    ci = ok(await gateway.post(f"{API}/cmdb/cis", json={
        "name": f"db-{run}", "ci_class": "database", "criticality": 2, "owner_group": owner,
        "attributes": {"engine": "postgresql", "endpoint": "db:5432"}}), 201)
    by_owner = await rules(name=f"{run} by owner and site", assignment_group=group,
                           conditions={"ci_owner_group": [owner], "requester_location": [site.upper()]})
    by_category = await rules(name=f"{run} by category", assignment_group="network-ops", position=2,
                              conditions={"category": [f"net-{run}"]})

    facts = {"record_type": "incident", "ci": ci["name"], "requester": alice, "category": f"net-{run}"}
    latest = ok(await agent.get(f"{API}/dispatch/decisions", params={"limit": 1}))["items"]

    async def decided_by_owner() -> dict:
        found = ok(await agent.post(f"{API}/dispatch/dry-run", json=facts))
        assert found["rule"] == by_owner["name"], found
        return found
    first = await eventually(decided_by_owner, timeout=60)  # once the CMDB's CI reached the copy
    assert first == {"assignment_group": group, "assignee": alice, "rule": by_owner["name"], "rule_version": 1,
                     "method": "round_robin", "rules_evaluated": 1}
    # Round robin's turn did not move: the same person again, and no decision kept.
    assert ok(await agent.post(f"{API}/dispatch/dry-run", json=facts | {"ci": ci["id"]})) == first
    groups = {g["name"]: g for g in ok(await agent.get(f"{API}/dispatch/groups"))["items"]}
    assert groups[group]["last_assignee"] is None
    assert ok(await agent.get(f"{API}/dispatch/decisions", params={"limit": 1}))["items"] == latest

    elsewhere = ok(await agent.post(f"{API}/dispatch/dry-run", json=facts | {"requester": unique("nobody")}))
    assert (elsewhere["rule"], elsewhere["assignment_group"], elsewhere["assignee"], elsewhere["method"]) == (
        by_category["name"], "network-ops", None, "none")
    assert elsewhere["rules_evaluated"] == 2
    nothing = ok(await agent.post(f"{API}/dispatch/dry-run", json={"record_type": "task", "category": f"net-{run}"}))
    assert (nothing["assignment_group"], nothing["rule"]) == (None, None)

    problem(await agent.post(f"{API}/dispatch/dry-run", json={"record_type": "change"}), 422)
    async with signed_in(platform, unique("requester"), "requester") as requester:
        problem(await requester.post(f"{API}/dispatch/dry-run", json=facts), 403)


async def test_a_rule_change_applies_to_the_next_decision_in_every_process(gateway, rules):
    """The test process keeps the rules compiled as each requests replica does; the change is made by another
    process (the platform's requests service): the next decision here must see it."""
    from itsm_requests.domain.dispatch import Facts
    from itsm_requests.handlers.dispatch import decide

    run = uuid.uuid4().hex[:8]
    rule = await rules(name=f"{run} storage", assignment_group=f"storage-{run}", conditions={"category": [run]})
    facts = Facts(record_type="incident", category=run)

    async with service_sessions("requests") as sessions:
        async def decided() -> tuple:
            async with sessions() as session:  # rolled back: nothing kept
                d = await decide(session, facts)
                return d.assignment_group, d.rule_version

        assert await decided() == (f"storage-{run}", 1)
        changed = ok(await gateway.patch(f"{API}/dispatch/rules/{rule['id']}",
                                         json={"assignment_group": f"backup-{run}"}, headers=if_match(rule)))
        assert await decided() == (f"backup-{run}", 2)
        ok(await gateway.patch(f"{API}/dispatch/rules/{rule['id']}", json={"enabled": False},
                               headers=if_match(changed)))
        assert await decided() == (None, None)
    served = ok(await gateway.post(f"{API}/dispatch/dry-run", json={"record_type": "incident", "category": run}))
    assert served["assignment_group"] is None


async def decisions_of(gateway, record_type: str, record_id: str, count: int = 1) -> list[dict]:
    found = ok(await gateway.get(f"{API}/dispatch/decisions",
                                 params={"record_type": record_type, "record_id": record_id}))["items"]
    assert len(found) == count, found
    return found


async def test_an_incident_from_an_alert_with_no_routing_rule_is_assigned_by_the_dispatch_rules(
        gateway, infra, integration_key, rules):
    group, (ann, ben) = await team(gateway, ("ann", True), ("ben", True), method="least_loaded")
    rule = await rules(name=unique("P1 from monitoring"), assignment_group=group, conditions={"priority": [1]})
    [fp] = fingerprints(1)
    body = alertmanager_batch([alert(fp, severity="critical", instance=f"web-{fp}")])
    assert (await gateway.post(f"{API}/integrations/alertmanager", json=body,
                               headers={"x-integration-key": integration_key})).status_code == 202

    async def opened() -> dict:
        found = ok(await gateway.get(f"{API}/incidents", params={"dedup_key": fp}))["items"]
        assert len(found) == 1, found
        return found[0]
    incident = await eventually(opened, timeout=60)

    async def decided() -> dict:
        [decision] = await decisions_of(gateway, "incident", incident["id"])
        return decision
    decision = await eventually(decided, timeout=60)
    assert {k: decision[k] for k in ("assignment_group", "assignee", "dispatch_rule", "dispatch_rule_version",
                                     "method")} == {
        "assignment_group": group, "assignee": ann, "dispatch_rule": rule["name"], "dispatch_rule_version": 1,
        "method": "least_loaded"}  # no open work on either: the first in the stable order

    records = await read_topic(infra["ITSM_KAFKA_BOOTSTRAP"], topics.REQUESTS, until=lambda rs: any(
        r.key == incident["id"].encode() for r in rs))
    [event] = [CloudEvent.from_json(r.value) for r in records if r.key == incident["id"].encode()]
    assert (event.type, event.subject, event.data["dispatch_rule"], event.data["assignee"]) == (
        "itsm.record.dispatched", incident["id"], rule["name"], ann)

    async def assigned() -> dict:
        found = ok(await gateway.get(f"{API}/incidents/{incident['id']}"))
        assert (found["assignment_group"], found["assignee"]) == (group, ann), found
        return found
    await eventually(assigned, timeout=60)

    # The rule changes: history does not; and ann's open P1 now weighs, so the next one goes to ben.
    ok(await gateway.patch(f"{API}/dispatch/rules/{rule['id']}", json={"description": "P1s"}, headers=if_match(rule)))
    assert (await decisions_of(gateway, "incident", incident["id"]))[0]["dispatch_rule_version"] == 1
    [fp2] = fingerprints(1)
    body = alertmanager_batch([alert(fp2, severity="critical", instance=f"web-{fp2}")])
    assert (await gateway.post(f"{API}/integrations/alertmanager", json=body,
                               headers={"x-integration-key": integration_key})).status_code == 202

    async def second() -> dict:
        items = ok(await gateway.get(f"{API}/incidents", params={"dedup_key": fp2}))["items"]
        assert len(items) == 1, items
        found = items[0]
        assert (found["assignment_group"], found["assignee"]) == (group, ben), found
        return found
    later = await eventually(second, timeout=60)
    [decision] = await decisions_of(gateway, "incident", later["id"])
    assert (decision["dispatch_rule_version"], decision["assignee"]) == (2, ben)


async def test_manual_incidents_without_a_group_go_round_robin_to_active_members_only(gateway, agent, rules):
    group, (amy, bea, cal) = await team(gateway, ("amy", True), ("bea", False), ("cal", True), method="round_robin")
    category = unique("printers")
    rule = await rules(name=unique("printers"), assignment_group=group, conditions={"category": [category.upper()]})

    opened = [ok(await agent.post(f"{API}/incidents", json={"short_description": f"printer {i} jams",
                                                            "category": category}), 201) for i in range(2)]

    async def assigned() -> list:
        found = [ok(await agent.get(f"{API}/incidents/{i['id']}")) for i in opened]
        assert all(f["assignment_group"] == group and f["assignee"] for f in found), found
        return found
    found = await eventually(assigned, timeout=60)
    assert sorted(f["assignee"] for f in found) == [amy, cal]  # two different members; bea is inactive

    # A group given by hand: the rules are not asked, the group's method picks the person (round robin wraps).
    given = ok(await agent.post(f"{API}/incidents", json={"short_description": "printer 3 jams",
                                                          "assignment_group": group}), 201)

    async def picked() -> dict:
        [decision] = await decisions_of(gateway, "incident", given["id"])
        return decision
    decision = await eventually(picked, timeout=60)
    assert (decision["assignee"], decision["dispatch_rule"], decision["method"]) == (amy, None, "round_robin")
    decided = [(await decisions_of(agent, "incident", i["id"]))[0] for i in opened]
    assert {(d["dispatch_rule"], d["dispatch_rule_version"]) for d in decided} == {(rule["name"], 1)}


async def test_a_problem_opened_without_an_assignee_is_dispatched(gateway, agent, rules):
    group, (dan,) = await team(gateway, ("dan", True), method="round_robin")
    rule = await rules(name=unique("critical problems"), record_types=["problem"], assignment_group=group,
                       conditions={"priority": [1]})
    opened = ok(await agent.post(f"{API}/problems", json={"short_description": "checkout keeps failing",
                                                          "impact": 1, "urgency": 1}), 201)

    async def decided() -> dict:
        [decision] = await decisions_of(gateway, "problem", opened["id"])
        return decision
    decision = await eventually(decided, timeout=60)
    assert (decision["assignment_group"], decision["assignee"], decision["dispatch_rule"]) == (group, dan,
                                                                                              rule["name"])

    async def assigned() -> None:
        found = ok(await agent.get(f"{API}/problems/{opened['id']}"))
        assert (found["assignment_group"], found["assignee"]) == (group, dan), found
    await eventually(assigned, timeout=60)


# -- the copies dispatch reads, applied as the consumers apply them (in a transaction rolled back afterwards) --------

def _event(data, subject: str, sequence: int, source: str):
    from itsm_contracts import envelope

    return envelope(data, source=source, subject=subject, sequence=sequence), data


async def test_open_work_follows_incident_events_by_sequence_and_a_reopened_incident_weighs_again(platform):
    from itsm_contracts.events.incidents import (
        IncidentAssigned, IncidentOpened, IncidentPriorityChanged, IncidentReopened, IncidentResolved,
    )
    from itsm_kit.clock import utcnow
    from itsm_kit.outbox import Outbox
    from itsm_kit.unit_of_work import UnitOfWork
    from itsm_requests.handlers.dispatch import incidents_changed
    from itsm_requests.store.dispatch import OpenWork

    incident, zed, amy, at = str(uuid.uuid4()), unique("zed"), unique("amy"), utcnow()

    def event(data, sequence: int):
        return _event(data, incident, sequence, "itsm/incidents")

    async with service_sessions("requests") as sessions, sessions() as session:
        uow = UnitOfWork(None, Outbox("itsm/requests"), session=session)  # joins the session: nothing commits
        work = OpenWork(session)
        await incidents_changed(uow, [event(IncidentOpened(
            incident_id=incident, number="INC9999001", short_description="disk full", state="new", impact=1,
            urgency=1, priority=1, origin="manual", opened_at=at, assignment_group="dba", assignee=zed), 1)])
        assert await work.loads([zed]) == {zed: 5}  # a P1
        await incidents_changed(uow, [event(IncidentResolved(incident_id=incident, resolution_code="fixed",
                                                             resolution_notes="", resolved_at=at), 3)])
        assert await work.loads([zed]) == {zed: 0}
        # Older than what is kept: changes nothing, even once the incident is open again.
        await incidents_changed(uow, [event(IncidentPriorityChanged(
            incident_id=incident, from_priority=1, to_priority=4, impact=2, urgency=3, changed_at=at), 2)])
        await incidents_changed(uow, [event(IncidentReopened(incident_id=incident, reopen_count=1,
                                                             reopened_at=at), 4)])
        assert await work.loads([zed]) == {zed: 5}
        await incidents_changed(uow, [event(IncidentAssigned(
            incident_id=incident, assignment_group="dba", assignee=amy, previous_assignee=zed,
            previous_assignment_group="dba", reassignment_count=1, assigned_at=at), 5)])
        assert await work.loads([zed, amy]) == {zed: 0, amy: 5}
        await session.rollback()


async def test_the_directory_copy_keeps_the_newest_save_of_each_person_and_group(platform):
    from datetime import timedelta

    from itsm_contracts.events.directory import GroupRemoved, GroupSaved, PersonSaved
    from itsm_kit.clock import utcnow
    from itsm_kit.outbox import Outbox
    from itsm_kit.unit_of_work import UnitOfWork
    from itsm_requests.handlers.dispatch import directory_changed
    from itsm_requests.store.dispatch import Directory

    person, group, username, at = str(uuid.uuid4()), str(uuid.uuid4()), unique("eve"), utcnow()
    name = unique("night-shift")
    earlier = at - timedelta(minutes=5)

    def saved(location: str, active: bool, when):
        return _event(PersonSaved(person_id=person, username=username, name="Eve", location=location, active=active,
                                  saved_at=when), person, 0, "itsm/notifications")

    async with service_sessions("requests") as sessions, sessions() as session:
        uow = UnitOfWork(None, Outbox("itsm/requests"), session=session)
        directory = Directory(session)
        await directory_changed(uow, [saved("Oslo", True, at), saved("Rome", False, earlier)])  # the older comes last
        assert await directory.location(username) == "Oslo"
        await directory_changed(uow, [_event(GroupSaved(group_id=group, name=name, members=[username], saved_at=at),
                                             group, 0, "itsm/notifications")])
        assert (await directory.members([name]))[name] == [Member(username, True)]
        await directory_changed(uow, [saved("Oslo", False, at + timedelta(seconds=1))])
        assert (await directory.members([name]))[name] == [Member(username, False)]
        await directory_changed(uow, [_event(GroupRemoved(group_id=group, name=name, removed_at=earlier), group, 0,
                                             "itsm/notifications")])
        assert (await directory.members([name]))[name] != []  # a removal older than the save changes nothing
        await directory_changed(uow, [_event(GroupRemoved(group_id=group, name=name, removed_at=at), group, 0,
                                             "itsm/notifications")])
        assert (await directory.members([name]))[name] == []
        await session.rollback()


async def test_no_more_rules_than_the_limit(platform):
    from itsm_kit.domain import Conflict
    from itsm_kit.outbox import Outbox
    from itsm_kit.unit_of_work import UnitOfWork
    from itsm_requests.handlers.dispatch import create_rule
    from itsm_requests.store.dispatch import DispatchRuleRepository

    async with service_sessions("requests") as sessions, sessions() as session:
        uow = UnitOfWork(None, Outbox("itsm/requests"), session=session)  # joins the session: nothing commits
        limit = await DispatchRuleRepository(session).count() + 1
        await create_rule(uow, max_rules=limit, name=unique("the last allowed"), record_types=["task"],
                          assignment_group="service-desk")
        with pytest.raises(Conflict, match="the most allowed"):
            await create_rule(uow, max_rules=limit, name=unique("one too many"), record_types=["task"],
                              assignment_group="service-desk")
        await session.rollback()
