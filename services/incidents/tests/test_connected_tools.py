"""Incidents applying what people did in a connected tool (PagerDuty, Jira; issue 16), with no database and no
broker: the incident stays authoritative, its lifecycle decides."""

from datetime import UTC, datetime

import pytest

from itsm_contracts.events.external import (
    ExternalRecordAcknowledged, ExternalRecordCommented, ExternalRecordResolved, ExternalRecordStatusChanged,
)
from itsm_contracts.events.incidents import IncidentResolved, IncidentStateChanged, IncidentWorkNoteAdded
from itsm_incidents.domain import EXTERNAL_RESOLUTION_CODE, ActivityKind, Incident, State

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
LINK = {"connector": "pagerduty", "endpoint_id": "e-1", "external_id": "Q1", "record_type": "incident",
        "record_id": "i-1", "external_actor": "Ada Lovelace"}


def incident(state: State = State.NEW) -> Incident:
    opened = Incident.open(id="i-1", number="INC1", short_description="Checkout fails", description="", impact=1,
                           urgency=1, origin="manual", at=T0, actor="agent-1")
    if state is State.RESOLVED:
        opened.resolve("fixed", "Restarted", T0)
    elif state is State.CLOSED:
        opened.resolve("fixed", "Restarted", T0)
        opened.close(T0)
    elif state is not State.NEW:
        opened.move_to(state, T0, "awaiting_vendor" if state is State.ON_HOLD else None)
    opened.events.clear()
    opened.activity.clear()
    return opened


def notes(found: Incident) -> list[str]:
    return [a.text for a in found.activity if a.kind is ActivityKind.WORK_NOTE]


ACKNOWLEDGED = ExternalRecordAcknowledged(**LINK, acknowledged_at=T1)
RESOLVED = ExternalRecordResolved(**LINK, resolved_at=T1)


def test_an_acknowledgement_in_pagerduty_puts_a_new_incident_in_progress_with_a_work_note():
    found = incident()
    assert found.acknowledge_in(ACKNOWLEDGED.note(), T1, actor="pagerduty")
    assert found.state is State.IN_PROGRESS
    assert notes(found) == ["Acknowledged in PagerDuty by Ada Lovelace"]
    moved = [e for _, e in found.events if isinstance(e, IncidentStateChanged)]
    assert [(m.from_state, m.to_state, m.actor) for m in moved] == [("new", "in_progress", "pagerduty")]


@pytest.mark.parametrize("state", [State.IN_PROGRESS, State.ON_HOLD])
def test_an_acknowledgement_moves_no_incident_past_new_only_notes_it(state):
    found = incident(state)
    assert found.acknowledge_in(ACKNOWLEDGED.note(), T1, actor="pagerduty")
    assert found.state is state
    assert [type(e) for _, e in found.events] == [IncidentWorkNoteAdded]


@pytest.mark.parametrize("state", [State.RESOLVED, State.CLOSED, State.CANCELED])
def test_a_late_acknowledgement_leaves_an_incident_no_longer_open_alone(state):
    found = incident(state)
    assert not found.acknowledge_in(ACKNOWLEDGED.note(), T1, actor="pagerduty")
    assert found.state is state and found.events == [] and found.activity == []


@pytest.mark.parametrize("state", [State.NEW, State.IN_PROGRESS, State.ON_HOLD])
def test_a_resolution_in_the_tool_resolves_an_open_incident_with_a_resolution(state):
    found = incident(state)
    assert found.resolve_in(RESOLVED.note(), T1, actor="pagerduty")
    assert found.state is State.RESOLVED and found.resolved_at == T1
    assert found.resolution_code == EXTERNAL_RESOLUTION_CODE
    assert found.resolution_notes == "Resolved in PagerDuty by Ada Lovelace"
    assert notes(found) == ["Resolved in PagerDuty by Ada Lovelace"]
    assert any(isinstance(e, IncidentResolved) for _, e in found.events)


@pytest.mark.parametrize("state", [State.RESOLVED, State.CLOSED, State.CANCELED])
def test_a_resolution_in_the_tool_leaves_an_incident_no_longer_open_alone(state):
    found = incident(state)
    assert not found.resolve_in(RESOLVED.note(), T1, actor="pagerduty")
    assert found.state is state and found.events == []


def test_jira_comments_and_statuses_read_as_work_notes():
    jira = {**LINK, "connector": "jira", "external_id": "OPS-1", "external_actor": "Grace"}
    assert ExternalRecordCommented(**jira, body="Rolled back", commented_at=T1).note() == \
        "Comment in Jira by Grace: Rolled back"
    assert ExternalRecordStatusChanged(**jira, status="In Review", changed_at=T1).note() == \
        "Status in Jira changed to In Review by Grace"
    assert ExternalRecordStatusChanged(**jira, status="In Review", changed_at=T1).at == T1
