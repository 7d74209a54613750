"""Lifecycle rules of issue 15, with no database and no broker: what authorization needs, templates, approval
policies and their rules, the timeline, closing with a result, the milestone events."""

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.events.changes import (
    ChangeApprovalRecorded, ChangeApproved, ChangeAssessed, ChangeCanceled, ChangeClosed, ChangeImplemented,
    ChangeRejected, ChangeScheduled,
)
from itsm_kit.domain import Conflict, InvalidTransition, InvalidValue
from itsm_changes.domain import (
    CHANGE_MANAGERS, REQUIRED_TO_AUTHORIZE, ApprovalPolicy, ChangeRequest, ChangeTemplate, NeedsCommand, Rule,
    State, missing_to_authorize, policy_for, rule_met,
)

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
WINDOW = dict(planned_start=T0 + timedelta(days=1), planned_end=T0 + timedelta(days=1, hours=2))
PLANS = dict(implementation_plan="run the playbook", backout_plan="restore the snapshot", test_plan="smoke tests")


def template(**overrides) -> ChangeTemplate:
    args = dict(id="t-1", name="Patch a Linux server", short_description="Patch a Linux server",
                description="Monthly patching", assignment_group="linux", active=True, at=T0, **PLANS)
    return ChangeTemplate.create(**args | overrides)


def change(**overrides) -> ChangeRequest:
    args = dict(id="c-1", number="CHG0001001", short_description="Upgrade PostgreSQL", description="",
                change_type="normal", at=T0, affected_cis=["db-1"], **WINDOW, **PLANS)
    return ChangeRequest.request(**args | overrides)


def policy(rule: str, approvers: list[str], change_type: str = "normal", risk: str = "any") -> ApprovalPolicy:
    return ApprovalPolicy.create(id=f"p-{change_type}-{risk}", change_type=change_type, risk=risk, group_name="CAB",
                                 approvers=approvers, rule=rule, at=T0)


def submitted(**overrides) -> ChangeRequest:
    c = change(**overrides)
    if c.change_type == "normal":
        c.move_to(State.ASSESS, T0)
    c.move_to(State.AUTHORIZE, T0)
    c.events.clear()
    c.activity.clear()
    return c


# -- what authorization needs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("change_type", ["normal", "emergency"])
def test_entering_authorize_lists_every_missing_field_and_moves_nothing(change_type):
    c = change(change_type=change_type, affected_cis=[], planned_start=None, planned_end=None,
               implementation_plan=None, backout_plan="  ", test_plan=None)
    if change_type == "normal":
        c.move_to(State.ASSESS, T0)
    state, version = c.state, c.version
    with pytest.raises(InvalidValue) as caught:
        c.move_to(State.AUTHORIZE, T0)
    assert caught.value.details["missing"] == list(REQUIRED_TO_AUTHORIZE)
    assert (c.state, c.version) == (state, version)


def test_a_standard_change_needs_them_before_it_is_scheduled():
    c = change(change_type="standard", template=template(), affected_cis=[])
    with pytest.raises(InvalidValue) as caught:
        c.move_to(State.SCHEDULED, T0)
    assert caught.value.details["missing"] == ["affected_cis"] and c.state is State.NEW


def test_missing_fields_are_checked_in_a_fixed_order():
    assert missing_to_authorize({"affected_cis": ["x"], "planned_start": T0, "test_plan": ""}) == [
        "planned_end", "implementation_plan", "backout_plan", "test_plan"]


def test_a_submitted_change_may_not_empty_what_it_was_submitted_with():
    c = submitted()
    with pytest.raises(InvalidValue) as caught:
        c.update({"affected_cis": []}, T0)
    assert caught.value.details["missing"] == ["affected_cis"] and c.affected_cis == ["db-1"]


# -- templates ------------------------------------------------------------------------------------------------

def test_a_standard_change_is_requested_from_a_template_which_fills_what_it_leaves_out():
    c = change(change_type="standard", template=template(), short_description="", description="",
               implementation_plan=None, backout_plan=None, test_plan=None)
    assert (c.short_description, c.description, c.assignment_group, c.template_id) == (
        "Patch a Linux server", "Monthly patching", "linux", "t-1")
    assert (c.implementation_plan, c.backout_plan, c.test_plan) == tuple(PLANS.values())
    c.move_to(State.SCHEDULED, T0)  # pre-authorized: no approval
    assert c.state is State.SCHEDULED


def test_what_the_request_says_wins_over_the_template():
    c = change(change_type="standard", template=template(), short_description="Patch web-7")
    assert c.short_description == "Patch web-7"


def test_a_standard_change_without_a_template_is_refused():
    with pytest.raises(InvalidValue, match="template") as caught:
        change(change_type="standard")
    assert caught.value.details["missing"] == ["template_id"]


def test_an_inactive_template_is_refused():
    with pytest.raises(InvalidValue, match="inactive"):
        change(change_type="standard", template=template(active=False))


def test_templates_are_for_standard_changes_only():
    with pytest.raises(InvalidValue, match="standard"):
        change(change_type="normal", template=template())


def test_a_template_edit_is_a_new_version_only_when_something_changed():
    t = template()
    t.update({"active": True}, T0)
    assert t.version == 1
    t.update({"active": False}, T0, actor="admin-1")
    assert (t.version, t.active, t.updated_by) == (2, False, "admin-1")
    with pytest.raises(InvalidValue):
        t.update({"backout_plan": None}, T0)


# -- approval policies and rules ------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "approvers", "approved", "met"), [
    ("any", ["a", "b", "c"], set(), False), ("any", ["a", "b", "c"], {"b"}, True),
    ("all", ["a", "b", "c"], {"a", "b"}, False), ("all", ["a", "b", "c"], {"a", "b", "c"}, True),
    ("majority", ["a", "b", "c"], {"a"}, False), ("majority", ["a", "b", "c"], {"a", "c"}, True),
    ("majority", ["a", "b", "c", "d"], {"a", "b"}, False), ("majority", ["a", "b", "c", "d"], {"a", "b", "c"}, True),
    ("all", ["a"], {"x"}, False),  # someone not listed never counts
])
def test_rules(rule, approvers, approved, met):
    assert rule_met(Rule(rule), approvers, approved) is met


def test_the_policy_for_the_risk_then_for_any_risk_then_change_managers():
    any_risk, high = policy("any", ["a"]), policy("all", ["a", "b"], risk="high")
    emergency = policy("any", ["e"], change_type="emergency")
    policies = [any_risk, high, emergency]
    assert policy_for(policies, "normal", "high") is high
    assert policy_for(policies, "normal", "low") is any_risk
    assert policy_for(policies, "normal", None) is any_risk  # not rated yet
    assert policy_for(policies, "emergency", "very_high") is emergency
    assert policy_for([], "normal", "high") is CHANGE_MANAGERS


def test_a_policy_needs_approvers_and_standard_changes_have_none():
    with pytest.raises(InvalidValue, match="approver"):
        policy("any", [])
    with pytest.raises(InvalidValue, match="pre-authorized"):
        policy("any", ["a"], change_type="standard")
    with pytest.raises(InvalidValue, match="risk level"):
        policy("any", ["a"], risk="extreme")


def test_all_approvers_must_approve_under_all_and_the_change_waits_until_then():
    c, p = submitted(), policy("all", ["a", "b"])
    c.decide("approve", "ok", T0, actor="a", policy=p)
    assert c.state is State.AUTHORIZE
    [(_, recorded)] = c.events
    assert isinstance(recorded, ChangeApprovalRecorded) and (recorded.approvals, recorded.approvers) == (1, 2)
    c.decide("approve", None, T0, actor="b", policy=p)
    assert c.state is State.SCHEDULED
    assert [type(e) for _, e in c.events[1:] if not type(e).__name__ == "ChangeStateChanged"] == [
        ChangeApproved, ChangeScheduled]


def test_majority_is_more_than_half():
    c, p = submitted(), policy("majority", ["a", "b", "c", "d"])
    for approver in ("a", "b"):
        c.decide("approve", None, T0, actor=approver, policy=p)
    assert c.state is State.AUTHORIZE
    c.decide("approve", None, T0, actor="c", policy=p)
    assert c.state is State.SCHEDULED


def test_any_is_one_approval():
    c = submitted(change_type="emergency")
    c.decide("approve", None, T0, actor="e", policy=policy("any", ["e", "f"], change_type="emergency"))
    assert c.state is State.SCHEDULED


def test_an_approver_not_in_the_group_is_refused_naming_it():
    c = submitted()
    with pytest.raises(Conflict, match="CAB") as caught:
        c.decide("approve", None, T0, actor="mallory", policy=policy("any", ["a"]))
    assert caught.value.details["approval_group"] == "CAB" and c.approvals == [] and c.events == []


def test_an_approver_decides_once_a_round():
    c, p = submitted(), policy("all", ["a", "b"])
    c.decide("approve", None, T0, actor="a", policy=p)
    with pytest.raises(Conflict, match="already decided"):
        c.decide("approve", None, T0, actor="a", policy=p)


def test_a_rejection_returns_to_new_at_once_and_clears_the_round():
    c, p = submitted(), policy("all", ["a", "b"])
    c.decide("approve", None, T0, actor="a", policy=p)
    c.decide("reject", "no load test", T0, actor="b", policy=p)
    assert c.state is State.NEW and c.round_decisions == []
    assert isinstance(c.events[-2][1], ChangeRejected)
    c.move_to(State.ASSESS, T0)
    c.move_to(State.AUTHORIZE, T0)
    assert c.approval_round == 2 and c.round_decisions == []
    c.decide("approve", None, T0, actor="a", policy=p)
    assert c.state is State.AUTHORIZE  # a's approval of round 1 does not count
    c.decide("approve", None, T0, actor="b", policy=p)
    assert c.state is State.SCHEDULED
    assert [(a.round, a.approver, a.decision) for a in c.approvals] == [
        (1, "a", "approve"), (1, "b", "reject"), (2, "a", "approve"), (2, "b", "approve")]


# -- the timeline ---------------------------------------------------------------------------------------------

def test_every_field_change_move_and_decision_is_a_timeline_line():
    c = change()
    assert [(a.kind, a.new_value) for a in c.activity] == [("opened", "CHG0001001")]
    c.activity.clear()
    c.update({"test_plan": "load test", "assignee": "bob"}, T0, actor="agent-1")
    c.move_to(State.ASSESS, T0, actor="agent-1")
    c.move_to(State.AUTHORIZE, T0, actor="agent-1")
    c.decide("reject", "not now", T0, actor="a", policy=policy("any", ["a"]))
    assert [(a.actor, a.field, a.old_value, a.new_value) for a in c.activity] == [
        ("agent-1", "assignee", None, "bob"), ("agent-1", "test_plan", "smoke tests", "load test"),
        ("agent-1", "state", "new", "assess"), ("agent-1", "state", "assess", "authorize"),
        ("a", "approval", None, "reject"), ("a", "state", "authorize", "new")]
    assert c.activity[4].text == "CAB (rule any): not now"


# -- closing and the milestone events -------------------------------------------------------------------------

def implemented() -> ChangeRequest:
    c = submitted()
    c.decide("approve", None, T0, actor="a")
    c.move_to(State.IMPLEMENT, T0 + timedelta(hours=1))
    return c


def test_entering_implement_sets_implemented_at_and_publishes_implemented():
    c = implemented()
    assert c.implemented_at == T0 + timedelta(hours=1)
    assert isinstance(c.events[-1][1], ChangeImplemented) and c.events[-1][1].affected_cis == ["db-1"]


def test_closing_from_review_keeps_the_close_code_and_publishes_closed():
    c = implemented()
    c.move_to(State.REVIEW, T0)
    c.close("backed_out", "restored the snapshot", T0, actor="agent-1")
    assert (c.state, c.close_code, c.close_notes, c.closed_at) == (
        State.CLOSED, "backed_out", "restored the snapshot", T0)
    closed = c.events[-1][1]
    assert isinstance(closed, ChangeClosed) and closed.close_code == "backed_out"


@pytest.mark.parametrize(("code", "notes", "error"), [("great", "x", InvalidValue), ("successful", " ", InvalidValue)])
def test_a_close_needs_a_known_code_and_notes(code, notes, error):
    c = implemented()
    c.move_to(State.REVIEW, T0)
    with pytest.raises(error):
        c.close(code, notes, T0)
    assert c.state is State.REVIEW and c.close_code is None


def test_closing_only_from_review():
    c = implemented()
    with pytest.raises(InvalidTransition):
        c.close("successful", "done", T0)


def test_state_refuses_closed_naming_the_command():
    c = implemented()
    c.move_to(State.REVIEW, T0)
    with pytest.raises(NeedsCommand) as caught:
        c.move_to(State.CLOSED, T0)
    assert caught.value.details["use"] == "close" and c.state is State.REVIEW


def test_assessed_is_published_on_leaving_assess_for_authorize_and_canceled_on_cancel():
    c = change()
    c.move_to(State.ASSESS, T0)
    c.move_to(State.AUTHORIZE, T0)
    assert isinstance(c.events[-1][1], ChangeAssessed)
    e = change(change_type="emergency")
    e.move_to(State.AUTHORIZE, T0)
    assert not any(isinstance(ev, ChangeAssessed) for _, ev in e.events)  # no assessment for an emergency
    e.move_to(State.CANCELED, T0, reason="not needed")
    canceled = e.events[-1][1]
    assert isinstance(canceled, ChangeCanceled) and (canceled.from_state, canceled.reason) == (
        "authorize", "not needed")
