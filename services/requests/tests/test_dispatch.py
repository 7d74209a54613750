"""Dispatch decided purely (issue 17), with no database and no broker: which rule (the first enabled one, by
position, of the record's type, whose every condition holds) and who in the group (round robin, least loaded)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from itsm_kit.domain import InvalidValue
from itsm_requests.domain.dispatch import (
    DispatchGroup, DispatchRule, Facts, Member, Method, Ruleset, Traits, eligible, first_match, least_loaded, pick,
    place, round_robin, traits_of, work_weight,
)
from itsm_requests.dispatch_bench import decision_times, sample_rules, sample_traits

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def rule(name: str, position: int, group: str = "service-desk", *, record_types: tuple[str, ...] = ("incident",),
         enabled: bool = True, **conditions: list) -> DispatchRule:
    return DispatchRule.create(id=f"id-{name}", name=name, position=position, record_types=list(record_types),
                               assignment_group=group, conditions=conditions, enabled=enabled, at=T0)


def incident(**traits) -> Traits:
    return Traits(record_type="incident", **traits)


def matched(rules: list[DispatchRule], traits: Traits) -> str | None:
    found, _ = first_match(rules, traits)
    return found.name if found else None


# -- which rule -----------------------------------------------------------------------------------------------------

def test_the_first_matching_rule_by_position_wins_whatever_the_order_given():
    network = rule("network", 2, "network-ops", category=["network"])
    everything = rule("everything", 3, "service-desk")
    db = rule("databases", 1, "dba", ci_class=["database"])
    rules = [everything, network, db]

    assert matched(rules, incident(category="network")) == "network"
    assert matched(rules, incident(category="network", ci_class="database")) == "databases"
    assert matched(rules, incident(category="software")) == "everything"
    found, evaluated = first_match(rules, incident(category="software"))
    assert (found.assignment_group, found.version, evaluated) == ("service-desk", 1, 3)


def test_a_later_position_loses_to_an_earlier_one():
    early, late = rule("early", 1, "a", category=["network"]), rule("late", 2, "b", category=["network"])
    assert matched([late, early], incident(category="network")) == "early"
    early.update({"position": 3}, T0)
    assert matched([late, early], incident(category="network")) == "late"


@pytest.mark.parametrize(("condition", "accepted", "seen", "other"), [
    ("category", ["Network"], {"category": "network"}, {"category": "software"}),
    ("business_service", ["Checkout"], {"business_service": "checkout "}, {"business_service": "Payroll"}),
    ("ci_class", ["database"], {"ci_class": "database"}, {"ci_class": "server"}),
    ("ci_owner_group", ["dba"], {"ci_owner_group": "DBA"}, {"ci_owner_group": "network-ops"}),
    ("priority", [1, 2], {"priority": 2}, {"priority": 3}),
    ("requester_location", ["Berlin", "Paris"], {"requester_location": "paris"}, {"requester_location": "Rome"}),
    ("task", ["Image the laptop"], {"task": "image the laptop"}, {"task": "Create the account"}),
])
def test_each_condition_kind_accepts_only_its_values(condition, accepted, seen, other):
    rules = [rule("r", 1, **{condition: accepted})]
    assert matched(rules, incident(**seen)) == "r"
    assert matched(rules, incident(**other)) is None
    assert matched(rules, incident()) is None  # a record without the value does not meet the condition


def test_every_condition_given_must_hold():
    rules = [rule("p1 network", 1, category=["network"], priority=[1])]
    assert matched(rules, incident(category="network", priority=1)) == "p1 network"
    assert matched(rules, incident(category="network", priority=2)) is None
    assert matched(rules, incident(category="software", priority=1)) is None


def test_no_conditions_match_everything_of_the_rules_record_types():
    rules = [rule("catch-all", 1, record_types=("incident", "problem"))]
    assert matched(rules, incident()) == "catch-all"
    assert matched(rules, Traits(record_type="problem", priority=4)) == "catch-all"
    assert matched(rules, Traits(record_type="task", category="hardware")) is None


def test_record_types_keep_rules_apart():
    rules = [rule("tasks", 1, "fulfilment", record_types=("task",)), rule("incidents", 2)]
    assert matched(rules, Traits(record_type="task")) == "tasks"
    assert matched(rules, incident()) == "incidents"
    assert first_match(rules, incident())[1] == 1  # a task rule is not even looked at for an incident


def test_disabled_rules_are_skipped():
    rules = [rule("off", 1, "nobody", enabled=False), rule("on", 2)]
    assert matched(rules, incident()) == "on"
    assert matched([rules[0]], incident()) is None


def test_the_ruleset_knows_which_lookups_its_rules_need():
    ruleset = Ruleset([rule("a", 1, ci_owner_group=["dba"]), rule("b", 2, requester_location=["Oslo"], enabled=False)])
    assert ruleset.uses == frozenset({"ci_owner_group"})


def test_traits_are_the_facts_with_the_ci_and_the_requester_looked_up():
    facts = Facts(record_type="incident", category="network", business_service="checkout", ci="db-1", priority=2,
                  requester="alice")
    assert traits_of(facts, ci_class="database", ci_owner_group="dba", requester_location="Berlin") == Traits(
        "incident", "network", "checkout", "database", "dba", 2, "Berlin")


# -- rules as data ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    {"conditions": {"colour": ["red"]}},
    {"conditions": {"category": []}},
    {"conditions": {"category": "network"}},
    {"conditions": {"priority": [0]}},
    {"conditions": {"priority": ["1"]}},
    {"conditions": {"category": ["x" * 256]}},
    {"conditions": {"category": [f"c{i}" for i in range(101)]}},
    {"record_types": []},
    {"record_types": ["change"]},
    {"name": "  "},
    {"assignment_group": ""},
    {"position": 0},
])
def test_a_rule_that_breaks_a_bound_is_refused(bad):
    fields = {"id": "r", "name": "r", "position": 1, "record_types": ["incident"], "assignment_group": "g",
              "conditions": {}, "at": T0} | bad
    with pytest.raises(InvalidValue):
        DispatchRule.create(**fields)


def test_a_change_makes_a_new_version_and_repeats_are_dropped():
    r = rule("r", 1, category=["network", "network", " wifi "])
    assert r.conditions == {"category": ["network", "wifi"]}
    r.update({"conditions": {"category": ["network", "wifi"]}}, T0)
    assert r.version == 1  # nothing really changed
    r.update({"assignment_group": "network-ops"}, T0, actor="admin-1")
    assert (r.version, r.updated_by) == (2, "admin-1")
    with pytest.raises(InvalidValue):
        r.update({"conditions": {"ci_colour": ["red"]}}, T0)


@pytest.mark.parametrize(("wanted", "count", "placed"), [(None, 4, 4), (1, 4, 1), (9, 4, 4), (2, 4, 2)])
def test_a_position_past_the_end_is_last(wanted, count, placed):
    assert place(wanted, count) == placed


# -- who in the group -------------------------------------------------------------------------------------------------

TEAM = [Member("carol"), Member("alice"), Member("bob")]


def test_round_robin_follows_the_stable_order_and_wraps():
    turns, last = [], None
    for _ in range(4):
        last = round_robin(TEAM, last)
        turns.append(last)
    assert turns == ["alice", "bob", "carol", "alice"]


def test_round_robin_after_someone_who_left_the_group_takes_whoever_follows_them():
    assert round_robin(TEAM, "bert") == "bob"
    assert round_robin(TEAM, "zoe") == "alice"


def test_inactive_members_never_get_work():
    team = [Member("alice"), Member("bob", active=False), Member("carol")]
    assert eligible(team) == ["alice", "carol"]
    assert round_robin(team, "alice") == "carol"
    assert least_loaded(team, {"alice": 9, "carol": 9}) == "alice"
    assert least_loaded(team, {"alice": 9, "bob": 0, "carol": 5}) == "carol"
    assert round_robin([Member("bob", active=False)], None) is None
    assert least_loaded([], {}) is None


def test_least_loaded_weighs_open_work_by_priority_and_breaks_ties_by_the_stable_order():
    # alice: one P1 (5); bob: two P4s (2 + 2) -> bob has less, though more records.
    loads = {"alice": work_weight("incident", 1), "bob": 2 * work_weight("problem", 4)}
    assert loads == {"alice": 5, "bob": 4}
    assert least_loaded(TEAM, loads | {"carol": 6}) == "bob"
    assert least_loaded(TEAM, {"alice": 4, "bob": 4, "carol": 4}) == "alice"
    assert least_loaded(TEAM, {"alice": 1}) == "bob"  # no open work at all counts as none


def test_work_weights():
    assert [work_weight("incident", p) for p in (1, 2, 3, 4, 5)] == [5, 4, 3, 2, 1]
    assert work_weight("incident", None) == 3
    assert work_weight("task", 1) == work_weight("task", None) == 3


def test_the_groups_method_decides_who():
    assert pick(Method.ROUND_ROBIN, TEAM, last="alice") == "bob"
    assert pick(Method.LEAST_LOADED, TEAM, loads={"alice": 3, "bob": 1, "carol": 2}) == "bob"
    assert pick(Method.NONE, TEAM) is None
    assert pick(None, TEAM) is None


def test_a_group_method_is_one_of_three():
    group = DispatchGroup.create(name="dba", method="round_robin", at=T0)
    group.update({"method": "least_loaded"}, T0)
    assert (group.method, group.version) == (Method.LEAST_LOADED, 2)
    with pytest.raises(InvalidValue):
        group.update({"method": "random"}, T0)
    with pytest.raises(InvalidValue):
        DispatchGroup.create(name="dba", method="lottery", at=T0)


# -- cost ----------------------------------------------------------------------------------------------------------

def test_500_rules_compile_once_and_the_last_one_matches():
    rules = sample_rules(500)
    ruleset = Ruleset(rules)
    found, evaluated = ruleset.first(sample_traits(500))
    assert (found.name, evaluated) == (rules[-1].name, 500)
    assert len(decision_times(ruleset, sample_traits(500), 50)) == 50  # costs: `make bench`, not asserted here
