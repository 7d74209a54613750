"""An SLA breach escalates the incident: the rule, and the note the breach event becomes."""

from datetime import UTC, datetime, timedelta

from itsm_contracts.events.incidents import IncidentEscalated, IncidentWorkNoteAdded
from itsm_contracts.events.sla import SlaBreached
from itsm_incidents.domain import ActivityKind, Incident, State
from itsm_incidents.domain import breach_note

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def incident(state: State = State.NEW) -> Incident:
    opened = Incident.open(id="i-1", number="INC-1", short_description="Mail is slow", description="", impact=1,
                           urgency=1, origin="manual", at=T0, assignment_group="mail", actor="agent-1")
    if state is State.RESOLVED:
        opened.resolve("fixed", "Restarted the queue", T0)
    opened.events.clear()
    opened.activity.clear()
    return opened


def test_a_breach_notes_it_marks_the_incident_and_involves_the_escalation_group():
    i = incident()
    i.escalate("SLA breached: resolution", T0 + timedelta(hours=4), group="major-incidents", timer_id="t-1",
               kind="resolution")
    assert i.escalated and i.escalation_group == "major-incidents" and i.escalated_at == T0 + timedelta(hours=4)
    assert i.assignment_group == "mail"  # the assignment stays; the escalation group is involved beside it
    [note, escalated] = [e for _, e in i.events]
    assert isinstance(note, IncidentWorkNoteAdded) and note.actor == "sla"
    assert isinstance(escalated, IncidentEscalated)
    assert (escalated.escalation_group, escalated.sla_timer_id, escalated.sla_kind) == ("major-incidents", "t-1",
                                                                                        "resolution")
    assert [(a.kind, a.field) for a in i.activity] == [
        (ActivityKind.WORK_NOTE, None), (ActivityKind.FIELD, "escalated"), (ActivityKind.FIELD, "escalation_group")]


def test_a_definition_without_an_escalation_group_still_marks_the_incident():
    i = incident()
    i.escalate("SLA breached: response", T0)
    assert i.escalated and i.escalation_group is None
    i.escalate("SLA breached: resolution", T0 + timedelta(hours=1), group="dba")
    assert i.escalation_group == "dba" and i.escalated_at == T0 + timedelta(hours=1)
    assert sum(isinstance(e, IncidentEscalated) for _, e in i.events) == 2


def test_a_breach_announced_after_the_resolution_only_adds_the_note():
    i = incident(State.RESOLVED)
    i.escalate("SLA breached: resolution", T0, group="dba")
    assert not i.escalated and i.escalation_group is None
    assert [type(e) for _, e in i.events] == [IncidentWorkNoteAdded]


def test_the_note_says_which_target_was_due_when_and_to_whom_it_went():
    breach = SlaBreached(timer_id="t", incident_id="i", kind="resolution", policy="P1 Critical", priority=1,
                         due_at=T0, target_seconds=4 * 3600 + 90, breached_at=T0, detected_at=T0,
                         escalation_group="major")
    assert breach_note(breach, "major") == ("SLA breached: resolution target of P1 Critical (4h 1m 30s) was due at "
                                            "2026-11-25 09:00:00 UTC. Escalated to major.")
    assert breach_note(breach, None).endswith("UTC.")
