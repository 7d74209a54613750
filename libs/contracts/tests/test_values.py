"""Inputs the HTTP contracts refuse though pydantic's lax parsing would take them, and durations
written as the schema's `format: duration` reads them."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from itsm_contracts.api.cmdb import CiQuery, SourceUpdate
from itsm_contracts.api.incidents import IncidentCreate, IncidentFilter, IncidentUpdate
from itsm_contracts.api.sla import CalendarBody, DefinitionBody
from itsm_contracts.api.values import iso_duration


@pytest.mark.parametrize("value", [0, 0.5, "0.5", "1700000000", " 12 "])
def test_a_number_is_no_date(value):
    with pytest.raises(ValidationError, match="ISO 8601"):
        IncidentFilter(opened_from=value)
    with pytest.raises(ValidationError, match="ISO 8601"):
        CalendarBody(name="Office", timezone="UTC", hours={"mon": [["09:00", "17:00"]]},
                     holidays=[{"date": value, "name": "x"}])
    assert IncidentFilter(opened_from="2026-11-25T10:00:00Z").opened_from.year == 2026


@pytest.mark.parametrize("field", ["priority", "impact", "urgency"])
def test_true_is_no_number(field):
    with pytest.raises(ValidationError, match="not true or false"):
        IncidentUpdate(**{field: True, "priority_override_reason": "because"})
    with pytest.raises(ValidationError):
        IncidentCreate(short_description="x", impact=True)
    assert IncidentUpdate(impact=1).impact == 1


def test_durations_are_bounded_and_written_in_days_not_years():
    with pytest.raises(ValidationError):
        CiQuery(unseen_for="P3000Y")
    assert SourceUpdate(priority=5, stale_after="P400D").model_dump(mode="json")["stale_after"] == "P400D"
    assert [iso_duration(t) for t in (timedelta(days=366), timedelta(hours=4), timedelta(seconds=90.5))] == [
        "P366D", "PT4H", "PT1M30.5S"]
    definition = DefinitionBody.model_json_schema(mode="validation")
    assert "duration" in str(definition)  # still read as ISO 8601 durations
