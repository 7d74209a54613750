"""An integration's policy: routing rules, dedup keys, storm groups and flags, with no broker and no database."""

import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from itsm_contracts.events.alerts import AlertReceived, AlertRouting
from itsm_kit.domain import InvalidValue
from itsm_gateway.domain import IntegrationPolicy, RoutingRule, apply_policy, check_policy, route
from itsm_gateway.domain.common import MAX_LABEL_VALUE
from itsm_gateway.domain.policy import STORED, context_of, render

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def alert(labels: dict[str, str] | None = None, **fields) -> AlertReceived:
    values = {"integration_id": "int-1", "integration_kind": "alertmanager", "dedup_key": "fp-1", "status": "firing",
              "severity": "critical", "summary": "Disk full on db-1", "source": "db-1", "received_at": NOW,
              "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "env": "prod", "team": "dba"}
              if labels is None else labels}
    return AlertReceived(**values | fields)


def rule(name: str, set_: dict, match: dict | None = None, match_re: dict | None = None) -> RoutingRule:
    return RoutingRule.model_validate({"name": name, "match": match or {}, "match_re": match_re or {}, "set": set_})


RULES = [
    rule("staging is low", {"impact": 3, "urgency": 3}, match={"env": "staging"}),
    rule("databases", {"affected_ci": "{instance}", "assignment_group": "DBA {env}", "impact": 1, "urgency": 2,
                       "category": "database"}, match_re={"alertname": "Disk.*|Replication.*"}),
    rule("critical anywhere", {"impact": 1, "urgency": 1, "assignment_group": "NOC"}, match={"severity": "critical"}),
]


# --- routing ---

def test_the_first_matching_rule_wins():
    routing = route(RULES, context_of(alert()))
    assert routing == AlertRouting(rule="databases", affected_ci="db-1:9100", assignment_group="DBA prod", impact=1,
                                   urgency=2, category="database")


def test_a_later_rule_decides_when_earlier_ones_do_not_match():
    routing = route(RULES, context_of(alert({"alertname": "HighLatency", "env": "prod"})))
    assert routing.rule == "critical anywhere" and routing.assignment_group == "NOC"
    assert (routing.impact, routing.urgency) == (1, 1)


def test_an_earlier_rule_shadows_a_later_one_that_also_matches():
    routing = route(RULES, context_of(alert({"alertname": "DiskFull", "env": "staging"})))
    assert routing.rule == "staging is low" and routing.affected_ci is None


def test_no_match_leaves_the_routing_empty():
    assert route(RULES, context_of(alert({"alertname": "HighLatency"}, severity="info"))) == AlertRouting()
    assert route([], context_of(alert())) == AlertRouting()


def test_regexes_match_the_whole_value():
    partial = [rule("r", {"category": "x"}, match_re={"alertname": "Disk"})]
    assert route(partial, context_of(alert())).rule is None  # "Disk" does not match all of "DiskFull"
    assert route([rule("r", {"category": "x"}, match_re={"instance": r"db-\d+:\d+"})], context_of(alert())).rule == "r"


def test_an_admins_catastrophic_pattern_runs_in_linear_time():
    # Python's re takes seconds for (a+)+b against 25 "a"s, doubling with each more: the gateway froze.
    evil = [rule("evil", {"category": "x"}, match_re={"instance": "(a+)+b"})]
    for value in ("a" * 25, "a" * MAX_LABEL_VALUE, "a" * MAX_LABEL_VALUE + "b"):
        started = time.perf_counter()
        decided = route(evil, context_of(alert({"instance": value})))
        assert time.perf_counter() - started < 0.05, len(value)
        assert decided.rule == ("evil" if value.endswith("b") else None)


def test_patterns_are_re2_so_backtracking_only_syntax_is_refused_when_written():
    for pattern in (r"(?=web)\w+", r"(\w)\1", r"(?<!db)-\d+"):
        with pytest.raises(ValidationError, match="not a valid regular expression in RE2 syntax"):
            rule("r", {"category": "x"}, match_re={"instance": pattern})
    assert route([rule("r", {"category": "x"}, match_re={"instance": r"(?i)DB-\d+:\d+"})],
                 context_of(alert())).rule == "r"


def test_a_stored_pattern_from_before_re2_stays_readable_and_matches_nothing_until_rewritten():
    stored = {"routing_rules": [
        {"name": "python only", "match_re": {"instance": r"(?=db)\S+"}, "set": {"category": "x"}},
        {"name": "next", "set": {"category": "y"}}]}
    policy = IntegrationPolicy.model_validate(stored, context=STORED)  # as the gateway reads it back
    assert route(policy.routing_rules, context_of(alert())).rule == "next"
    with pytest.raises(InvalidValue, match="RE2"):
        policy.changed({"resolve_incident": False})  # a change names it: the admin rewrites it then
    with pytest.raises(ValidationError, match="RE2"):
        IntegrationPolicy.model_validate(stored)


def test_all_conditions_of_a_rule_must_hold():
    both = [rule("r", {"category": "x"}, match={"env": "prod", "team": "web"})]
    assert route(both, context_of(alert())).rule is None
    both = [rule("r", {"category": "x"}, match={"env": "prod"}, match_re={"team": "d.a"})]
    assert route(both, context_of(alert())).rule == "r"


def test_a_missing_label_reads_as_empty():
    absent = [rule("no env", {"category": "x"}, match={"env": ""})]
    assert route(absent, context_of(alert({"alertname": "X"}))).rule == "no env"
    assert route(absent, context_of(alert())).rule is None


def test_normalized_fields_are_matched_whatever_the_sender_called_them():
    # The label says "page"; the normalized severity is critical, and that is what rules see.
    routing = route(RULES[2:], context_of(alert({"alertname": "X", "severity": "page"}, severity="critical")))
    assert routing.rule == "critical anywhere"
    assert route([rule("by source", {"affected_ci": "{source}"}, match={"source": "db-1"})],
                 context_of(alert())).affected_ci == "db-1"


def test_a_rule_with_no_conditions_catches_everything():
    catch_all = [rule("default", {"assignment_group": "Service Desk", "impact": 3})]
    assert route(catch_all, context_of(alert({}))).assignment_group == "Service Desk"


def test_a_value_whose_placeholder_is_missing_stays_unset_and_the_rest_applies():
    rules = [rule("r", {"affected_ci": "{host}", "business_service": "{service}-svc", "impact": 2},
                  match={"env": "prod"})]
    routing = route(rules, context_of(alert({"env": "prod", "service": "billing"})))
    assert routing.affected_ci is None and routing.business_service == "billing-svc" and routing.impact == 2


def test_render_fills_every_placeholder_or_nothing():
    assert render("{a}/{b}", {"a": "1", "b": "2"}) == "1/2"
    assert render("{a}/{b}", {"a": "1"}) is None
    assert render("{a}", {"a": ""}) is None
    assert render("static", {}) == "static"


# --- writing rules and policies: refused as a whole when any part is wrong ---

@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"name": "r", "match_re": {"alertname": "Disk("}, "set": {}}, "not a valid regular expression"),
        ({"name": "r", "set": {"owner": "me"}}, "Extra inputs are not permitted"),
        ({"name": "r", "set": {"impact": 4}}, "less than or equal to 3"),
        ({"name": "r", "set": {"urgency": 0}}, "greater than or equal to 1"),
        ({"name": "r", "set": {"affected_ci": "{instance"}}, "braces enclose"),
        ({"name": "", "set": {}}, "at least 1 character"),
        ({"name": "r"}, "Field required"),
        ({"name": "r", "set": {}, "when": {}}, "Extra inputs are not permitted"),
        ({"name": "r", "match_re": {"instance": "x" * 1001}, "set": {}}, "at most 1000 characters"),
        ({"name": "r", "match_re": {f"l{n}": "x" for n in range(33)}, "set": {}}, "at most 32 items"),
        ({"name": "r", "match": {f"l{n}": "x" for n in range(33)}, "set": {}}, "at most 32 items"),
    ],
)
def test_invalid_rules_are_refused(body, complaint):
    with pytest.raises(ValidationError, match=complaint):
        RoutingRule.model_validate(body)


@pytest.mark.parametrize(
    ("policy", "complaint"),
    [
        ({"dedup_key_template": "{alertname}", "dedup_fields": ["instance"]}, "not both"),
        ({"dedup_key_template": "static"}, "at least one label"),
        ({"dedup_key_template": "{alertname}/{status}"}, "status cannot identify"),
        ({"dedup_fields": ["status"]}, "status cannot identify"),
        ({"routing_rules": [{"name": "a", "set": {}}, {"name": "a", "set": {}}]}, "unique"),
        ({"storm_window_seconds": -1}, "greater than or equal to 0"),
        ({"storm_group_labels": ["env", "env"]}, "once"),
        ({"storm_group_labels": ["not a name"]}, "pattern"),
        ({"resolve_on_close": True}, "Extra inputs"),
    ],
)
def test_invalid_policies_are_refused(policy, complaint):
    with pytest.raises(ValidationError, match=complaint):
        IntegrationPolicy.model_validate(policy)


def test_the_defaults_deduplicate_as_the_sender_does_and_resolve_and_acknowledge_incidents():
    policy = IntegrationPolicy()
    assert policy.resolve_incident and policy.acknowledge_incident
    assert policy.storm_window_seconds == 0 and policy.routing_rules == []
    [applied] = apply_policy([alert()], policy)
    assert applied.dedup_key == "fp-1" and applied.routing == AlertRouting()
    assert (applied.resolve_incident, applied.acknowledge_incident, applied.storm_window_seconds) == (True, True, 0)


def test_pagerduty_keys_cannot_be_configured():
    with pytest.raises(InvalidValue, match="sender's dedup_key"):
        check_policy("pagerduty", IntegrationPolicy(dedup_fields=["source"]))
    check_policy("generic", IntegrationPolicy(dedup_fields=["source"]))


@pytest.mark.parametrize(("kind", "allowed"), [("alertmanager", True), ("grafana", True), ("pagerduty", False),
                                               ("generic", False)])
def test_storm_control_needs_group_labels_unless_the_sender_groups(kind, allowed):
    policy = IntegrationPolicy(storm_window_seconds=300)
    if allowed:
        check_policy(kind, policy)
    else:
        with pytest.raises(InvalidValue, match="storm_group_labels"):
            check_policy(kind, policy)
    check_policy(kind, IntegrationPolicy(storm_window_seconds=300, storm_group_labels=["service"]))


def test_a_change_is_checked_against_the_whole_policy():
    policy = IntegrationPolicy(dedup_key_template="{alertname}")
    with pytest.raises(InvalidValue, match="not both"):
        policy.changed({"dedup_fields": ["instance"]})
    changed = policy.changed({"dedup_key_template": None, "dedup_fields": ["instance"], "resolve_incident": False})
    assert changed.dedup_fields == ["instance"] and changed.dedup_key_template is None
    assert not changed.resolve_incident and changed.acknowledge_incident


# --- dedup keys, storm groups and flags on the way out ---

def test_a_dedup_template_replaces_the_senders_key():
    policy = IntegrationPolicy(dedup_key_template="{alertname}/{instance}/{missing}")
    [applied] = apply_policy([alert()], policy)
    assert applied.dedup_key == "DiskFull/db-1:9100/"  # a missing name reads as empty: the key stays stable


def test_dedup_fields_hash_the_named_values_so_firing_and_resolved_share_a_key():
    policy = IntegrationPolicy(dedup_fields=["alertname", "instance"])
    firing, resolved, other = apply_policy(
        [alert(), alert(status="resolved", dedup_key="fp-2", severity="info"),
         alert({"alertname": "DiskFull", "instance": "db-2:9100"})], policy)
    assert firing.dedup_key == resolved.dedup_key != other.dedup_key
    assert firing.dedup_key != "fp-1"


def test_a_very_long_templated_key_is_hashed_to_fit():
    policy = IntegrationPolicy(dedup_key_template="{alertname}")
    [applied] = apply_policy([alert({"alertname": "x" * 300})], policy)
    assert len(applied.dedup_key) == 64


def test_storm_group_labels_make_the_group_key_per_integration():
    policy = IntegrationPolicy(storm_window_seconds=120, storm_group_labels=["env", "team"])
    a, b, c = apply_policy([alert(), alert({"env": "prod", "team": "dba", "instance": "db-9"}),
                            alert({"env": "prod", "team": "web"})], policy)
    assert a.group_key == b.group_key == 'int-1:{env="prod",team="dba"}'
    assert c.group_key != a.group_key
    assert a.storm_window_seconds == 120
    [elsewhere] = apply_policy([alert(integration_id="int-2")], policy)
    assert elsewhere.group_key != a.group_key  # the same labels in another integration are another storm


def test_without_group_labels_the_senders_group_key_is_used_and_none_stays_none():
    policy = IntegrationPolicy(storm_window_seconds=60)
    [grouped, ungrouped] = apply_policy([alert(group_key='{}:{alertname="DiskFull"}'), alert()], policy)
    assert grouped.group_key == 'int-1:{}:{alertname="DiskFull"}'
    assert ungrouped.group_key is None


def test_flags_and_routing_travel_with_every_alert():
    policy = IntegrationPolicy(resolve_incident=False, acknowledge_incident=False, routing_rules=RULES)
    applied = apply_policy([alert(), alert({"alertname": "Other"}, severity="info")], policy)
    assert [a.routing.rule for a in applied] == ["databases", None]
    assert all(not a.resolve_incident and not a.acknowledge_incident for a in applied)
