"""A run of itsm.incidents folded into the incident copy's writes: what its events one at a time would leave."""

from __future__ import annotations

from datetime import UTC, datetime

from itsm_changes.handlers import _folded
from itsm_contracts import envelope
from itsm_contracts.events.incidents import IncidentOpened, IncidentPriorityChanged, IncidentUpdated

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def opened(incident_id: str, ci: str | None, sequence: int = 1):
    data = IncidentOpened(incident_id=incident_id, number="INC0000001", short_description="x", state="new", impact=3,
                          urgency=3, priority=4, origin="manual", opened_at=T0, affected_ci=ci)
    return (envelope(data, source="itsm/incidents", subject=incident_id, sequence=sequence), data,
            {"id": incident_id, "affected_ci": ci, "priority": 4, "sequence": sequence})


def reprioritized(incident_id: str, sequence: int, to: int):
    data = IncidentPriorityChanged(incident_id=incident_id, from_priority=4, to_priority=to, impact=2, urgency=2,
                                   changed_at=T0)
    return envelope(data, source="itsm/incidents", subject=incident_id, sequence=sequence), data, {"priority": to}


def moved(incident_id: str, sequence: int, ci: str | None):
    data = IncidentUpdated(incident_id=incident_id, changes={"affected_ci": ci}, updated_at=T0)
    return envelope(data, source="itsm/incidents", subject=incident_id, sequence=sequence), data, {"affected_ci": ci}


def test_each_changed_row_is_written_once_with_the_newest_fields_of_the_changes_newer_than_it():
    steps = [reprioritized("a", 3, 2), moved("a", 5, "web"), reprioritized("a", 4, 1),  # 4 < 5: ignored
             reprioritized("b", 2, 1)]  # older than b's row
    added, changed, _ = _folded({"a": ("db", 2), "b": ("db", 3)}, steps)
    assert added == []
    assert changed == [("a", 5, {"priority": 2, "affected_ci": "web"})]


def test_a_new_row_is_added_as_opened_and_changed_after_only_by_what_follows_its_opening():
    steps = [reprioritized("a", 2, 1),  # before the copy has it: changes nothing
             opened("a", "db"), opened("a", "web"),  # a replay: the first stays
             reprioritized("a", 3, 2)]
    added, changed, touched = _folded({}, steps)
    assert added == [steps[1][2]]
    assert changed == [("a", 3, {"priority": 2})]
    assert touched == {"db"}


def test_a_replayed_opening_keeps_the_kept_row_and_touches_its_ci():
    added, changed, touched = _folded({"a": ("web", 7)}, [opened("a", "db")])
    assert (added, changed, touched) == ([], [], {"web"})


def test_every_ci_an_incident_was_on_before_or_after_an_event_is_touched():
    steps = [moved("a", 2, "host"), moved("a", 3, "web"), moved("a", 4, None), opened("b", None)]
    _, changed, touched = _folded({"a": ("db", 1)}, steps)
    assert touched == {"db", "host", "web"}  # host on the way only; none is no CI
    assert changed == [("a", 4, {"affected_ci": None})]
