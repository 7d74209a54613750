"""Incident rules, with no database and no broker."""

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.events.alerts import AlertReceived, AlertRouting
from itsm_contracts.events.incidents import (
    IncidentAlertAttached, IncidentOpened, IncidentPriorityChanged, IncidentResolved, IncidentStateChanged,
)
from itsm_incidents.domain import TRANSITIONS, AlertAction, Incident, State, alert_action
from itsm_kit.domain import InvalidTransition, InvalidValue, priority_of

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def new_incident(**overrides) -> Incident:
    args = dict(id="i-1", number="INC0001001", short_description="Checkout is down", description="", impact=2,
                urgency=2, origin="manual", at=T0)
    args.update(overrides)
    return Incident.open(**args)


def alert(severity="warning", dedup_key="fp-1", **fields) -> AlertReceived:
    return AlertReceived(integration_id="int-1", integration_kind="alertmanager", dedup_key=dedup_key,
                         status="firing", severity=severity, summary="Disk full", received_at=T0, **fields)


def event_types(incident: Incident) -> list[type]:
    return [type(e) for _, e in incident.events]


@pytest.mark.parametrize(
    ("impact", "urgency", "priority"),
    [(1, 1, 1), (1, 2, 2), (2, 1, 2), (1, 3, 3), (2, 2, 3), (3, 1, 3), (2, 3, 4), (3, 2, 4), (3, 3, 5)],
)
def test_priority_follows_the_default_impact_urgency_matrix(impact, urgency, priority):
    assert priority_of(impact, urgency) == priority


def test_impact_or_urgency_outside_1_to_3_is_refused():
    with pytest.raises(InvalidValue):
        priority_of(0, 2)
    with pytest.raises(InvalidValue):
        new_incident(urgency=4)


def test_opening_raises_opened_with_version_1():
    incident = new_incident(impact=1, urgency=1)
    assert incident.state is State.NEW and incident.priority == 1 and incident.version == 1
    [(sequence, opened)] = incident.events
    assert sequence == 1 and isinstance(opened, IncidentOpened) and opened.priority == 1


def test_blank_short_description_is_refused():
    with pytest.raises(InvalidValue):
        new_incident(short_description="   ")


@pytest.mark.parametrize(
    ("severity", "priority"), [("critical", 1), ("error", 2), ("warning", 3), ("info", 4)]
)
def test_alert_severity_sets_priority(severity, priority):
    incident = Incident.open_from_alert(id="i", number="INC1", alert=alert(severity))
    assert incident.priority == priority
    assert incident.origin == "monitoring" and incident.alert_count == 1 and incident.last_seen_at == T0


def test_repeated_alert_counts_and_moves_last_seen_forward_only():
    incident = Incident.open_from_alert(id="i", number="INC1", alert=alert())
    incident.attach_alert("fp-1", T0 + timedelta(minutes=5))
    incident.attach_alert("fp-2", T0 + timedelta(minutes=1))  # a late, older member of its storm
    assert incident.alert_count == 3
    assert incident.last_seen_at == T0 + timedelta(minutes=5)
    assert event_types(incident) == [IncidentOpened, IncidentAlertAttached, IncidentAlertAttached]
    assert [seq for seq, _ in incident.events] == [1, 2, 3]


def test_resolve_needs_code_and_notes_and_records_them():
    incident = new_incident()
    with pytest.raises(InvalidValue):
        incident.resolve("fixed", " ", T0)
    incident.resolve("fixed", "Restarted the pod", T0 + timedelta(hours=1))
    assert incident.state is State.RESOLVED and incident.resolution_code == "fixed"
    assert event_types(incident) == [IncidentOpened, IncidentStateChanged, IncidentResolved]
    assert incident.version == 3


@pytest.mark.parametrize("final", [State.CLOSED, State.CANCELED])
def test_final_states_allow_nothing(final):
    assert TRANSITIONS[final] == frozenset()


def test_illegal_transition_names_the_allowed_ones():
    incident = new_incident()
    incident.resolve("fixed", "done", T0)
    with pytest.raises(InvalidTransition) as caught:
        incident.move_to(State.ON_HOLD, T0)
    assert caught.value.allowed == [State.CLOSED, State.IN_PROGRESS]
    assert "closed" in str(caught.value) and "in_progress" in str(caught.value)


def test_hold_reason_is_kept_only_while_on_hold():
    incident = new_incident()
    incident.move_to(State.ON_HOLD, T0, hold_reason="awaiting_vendor")
    assert incident.hold_reason == "awaiting_vendor"
    incident.move_to(State.IN_PROGRESS, T0)
    assert incident.hold_reason is None


def test_reprioritising_raises_an_event_only_when_priority_changes():
    incident = new_incident(impact=2, urgency=2)
    incident.reprioritise(2, 2, T0)
    assert event_types(incident) == [IncidentOpened]
    incident.reprioritise(1, 1, T0)
    assert incident.priority == 1
    assert isinstance(incident.events[-1][1], IncidentPriorityChanged)


def test_routing_decides_over_severity_and_fills_the_incident():
    routed = alert("info", routing=AlertRouting(impact=1, urgency=1, category="database", assignment_group="dba",
                                              affected_ci="db-1", business_service="checkout", rule="dbs"))
    incident = Incident.open_from_alert(id="i", number="INC1", alert=routed)
    assert incident.priority == 1
    assert (incident.category, incident.assignment_group, incident.affected_ci, incident.business_service) == (
        "database", "dba", "db-1", "checkout")


def test_over_long_routing_values_are_cut_to_fit_not_refused():
    routed = alert(routing=AlertRouting(assignment_group="g" * 300, affected_ci="c" * 300))
    incident = Incident.open_from_alert(id="i", number="INC1", alert=routed)
    assert incident.assignment_group == "g" * 100 and incident.affected_ci == "c" * 255


@pytest.mark.parametrize(
    ("status", "active", "storm", "action"),
    [
        ("firing", False, False, AlertAction.OPEN),
        ("firing", True, False, AlertAction.ATTACH),
        ("firing", False, True, AlertAction.ATTACH),   # storm control: joins the group's open incident
        ("acknowledged", True, False, AlertAction.ACKNOWLEDGE),
        ("acknowledged", False, False, AlertAction.IGNORE),
        ("resolved", True, False, AlertAction.CLEAR),
        ("resolved", False, False, AlertAction.IGNORE),  # never seen firing, or already over
        ("resolved", False, True, AlertAction.IGNORE),
    ],
)
def test_what_an_alert_does_to_incidents(status, active, storm, action):
    assert alert_action(status, has_active_alert=active, storm_incident_open=storm) is action


def test_acknowledging_moves_a_new_incident_in_progress_and_leaves_others():
    incident = new_incident()
    incident.acknowledge(T0)
    assert incident.state is State.IN_PROGRESS
    incident.move_to(State.ON_HOLD, T0, hold_reason="awaiting_vendor")
    incident.acknowledge(T0)
    assert incident.state is State.ON_HOLD


def test_domain_and_contract_agree_on_states():
    from itsm_contracts.events.incidents import INCIDENT_STATES, OPEN_INCIDENT_STATES
    from itsm_incidents.domain import OPEN_STATES

    assert set(INCIDENT_STATES) == set(State)
    assert OPEN_INCIDENT_STATES == OPEN_STATES
