from datetime import UTC, datetime

import pytest

from itsm_contracts import CloudEvent, UnknownEventType, envelope, parse_data
from itsm_contracts.events.incidents import IncidentResolved


def test_event_round_trips_through_json_with_its_typed_data():
    data = IncidentResolved(
        incident_id="i-1", resolution_code="fixed", resolution_notes="restarted",
        resolved_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    event = envelope(data, source="itsm/incidents", subject="i-1", sequence=3, correlationid="c-1")

    back = CloudEvent.from_json(event.to_json())

    assert back.type == "itsm.incident.resolved"
    assert back.specversion == "1.0"
    assert back.sequence == 3 and back.correlationid == "c-1"
    assert back.dataschema == "urn:itsm:schema:itsm.incident.resolved.v1"
    assert parse_data(back) == data


def test_unknown_event_type_is_refused_not_guessed():
    event = CloudEvent(source="x", type="itsm.thing.happened", subject="1",
                       dataschema="urn:itsm:schema:itsm.thing.happened.v1", data={})
    with pytest.raises(UnknownEventType):
        parse_data(event)
