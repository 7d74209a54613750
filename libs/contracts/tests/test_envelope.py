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


def test_event_json_is_the_bytes_of_the_envelope_byte_for_byte():
    from itsm_contracts import event_json
    from itsm_contracts.events.alerts import AlertReceived

    alert = AlertReceived(integration_id="int-1", integration_kind="alertmanager", dedup_key="fp-1", status="firing",
                          summary="Disk full on db-1", severity="critical", labels={"team": "dba", "n": "ü"},
                          received_at=datetime(2026, 12, 6, 0, 30, 0, 123456, tzinfo=UTC))
    written = event_json(alert, source="itsm/gateway", subject="fp-1", correlationid="corr-1")
    back = CloudEvent.from_json(written)
    expected = envelope(alert, source="itsm/gateway", subject="fp-1", time=back.time, correlationid="corr-1")
    assert written == expected.model_copy(update={"id": back.id}).to_json()
    assert parse_data(back) == alert
