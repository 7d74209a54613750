"""Risk scoring (issue 15): the table, the bands, business hours, what a level change publishes, suspected incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.events.changes import ChangeIncidentSuspected, ChangeRiskAssessed
from itsm_changes.domain import (
    RISK_TABLE, ChangeRequest, RiskLevel, State, SuspectedIncident, assess_risk, in_business_hours, suspected_within,
)

AT = datetime(2026, 12, 1, 12, tzinfo=UTC)


def points(factors, name):
    return next(f.points for f in factors if f.name == name)


def test_nothing_found_is_low_with_no_factors():
    assert assess_risk({}) == (RiskLevel.LOW, [])


def test_three_business_services_make_a_change_high_and_are_named():
    level, factors = assess_risk({"business_services": ["Payments", "Orders", "Checkout"]})
    assert level is RiskLevel.HIGH
    [factor] = factors
    assert factor.name == "business_services" and factor.points == 6
    assert all(name in factor.detail for name in ("Payments", "Orders", "Checkout"))
    assert factor.detail.startswith("3 business services depend on the affected CIs")


@pytest.mark.parametrize(("services", "level"), [(0, RiskLevel.LOW), (1, RiskLevel.LOW), (2, RiskLevel.MODERATE),
                                                 (3, RiskLevel.HIGH), (9, RiskLevel.HIGH)])
def test_business_services_score_two_each_up_to_six(services, level):
    assert assess_risk({"business_services": [f"s{i}" for i in range(services)]})[0] is level


def test_points_are_capped_per_row():
    _, factors = assess_risk({"critical_cis": [f"c{i}" for i in range(10)], "open_p1_incidents": ["a", "b", "c"]})
    assert points(factors, "critical_cis") == 3 and points(factors, "open_p1_incidents") == 6


def test_a_p1_incident_raises_high_to_very_high():
    found = {"business_services": ["a", "b", "c"]}
    assert assess_risk({**found, "open_p1_incidents": ["INC0001001 on db"]})[0] is RiskLevel.VERY_HIGH


def test_bands():
    # 3 points: moderate; 5: high; 8: very high.
    assert assess_risk({"open_p1_incidents": ["i"]})[0] is RiskLevel.MODERATE
    assert assess_risk({"failed_changes": ["CHG1", "CHG2"], "open_p2_incidents": ["i"]})[0] is RiskLevel.HIGH
    assert assess_risk({"failed_changes": ["CHG1", "CHG2"], "business_hours": ["w"],
                        "critical_cis": ["x", "y"]})[0] is RiskLevel.VERY_HIGH


def test_factors_are_most_points_first_and_repeats_count_once():
    _, factors = assess_risk({"open_p2_incidents": ["i", "i"], "business_services": ["s", "t"]})
    assert [f.name for f in factors] == ["business_services", "open_p2_incidents"]
    assert points(factors, "open_p2_incidents") == 1


def test_a_factor_names_ten_records_and_counts_the_rest():
    _, [factor] = assess_risk({"critical_cis": [f"host-{i:02d}" for i in range(52)]})
    assert factor.detail == ("52 critical CIs (criticality 1) are or depend on the affected CIs: "
                             + ", ".join(f"host-{i:02d}" for i in range(10)) + " and 42 more")
    _, [window] = assess_risk({"business_hours": ["Tue 14:00 to 15:00"]})
    assert window.detail == "the planned window falls in business hours (Mon-Fri 08:00-18:00): Tue 14:00 to 15:00"


def test_every_row_has_a_readable_explanation():
    assert {row.name for row in RISK_TABLE} == {"business_services", "critical_cis", "failed_changes",
                                                "open_p1_incidents", "open_p2_incidents", "business_hours", "freeze"}
    assert all(row.explains and row.each > 0 and row.most >= row.each for row in RISK_TABLE)


@pytest.mark.parametrize(("start", "hours", "tz", "inside"), [
    (datetime(2026, 12, 1, 9, tzinfo=UTC), 1, "UTC", True),             # Tuesday morning
    (datetime(2026, 12, 1, 18, tzinfo=UTC), 2, "UTC", False),           # Tuesday evening, from closing time
    (datetime(2026, 12, 1, 6, tzinfo=UTC), 2, "UTC", False),            # ends at opening time
    (datetime(2026, 12, 5, 10, tzinfo=UTC), 4, "UTC", False),           # Saturday
    (datetime(2026, 12, 4, 22, tzinfo=UTC), 58, "UTC", False),          # Friday night to Monday 08:00
    (datetime(2026, 12, 4, 22, tzinfo=UTC), 59, "UTC", True),           # into Monday morning
    (datetime(2026, 12, 1, 20, tzinfo=UTC), 1, "America/New_York", True),   # 15:00 in New York
    (datetime(2026, 12, 1, 9, tzinfo=UTC), 1, "Asia/Tokyo", False),         # 18:00 in Tokyo
    (datetime(2026, 12, 1, 0, tzinfo=UTC), 24 * 20, "UTC", True),       # weeks long
])
def test_business_hours(start, hours, tz, inside):
    assert in_business_hours(start, start + timedelta(hours=hours), tz) is inside


def test_an_unknown_window_is_not_in_business_hours():
    assert not in_business_hours(None, AT, "UTC") and not in_business_hours(AT, None, "UTC")


def change(state: State = State.NEW) -> ChangeRequest:
    c = ChangeRequest.request(id="c1", number="CHG0001001", short_description="patch db", description="",
                              change_type="normal", planned_start=None, planned_end=None, at=AT,
                              affected_cis=["db"])
    c.events.clear()
    c.state = state
    return c


def test_the_first_level_is_kept_silently_and_each_change_of_level_is_published_with_its_factors():
    c = change()
    assert c.assess(*assess_risk({"business_services": ["a"]}), AT)
    assert (c.risk, c.events, c.version) == (RiskLevel.LOW, [], 1)  # rated as requested: part of the request
    level, factors = assess_risk({"business_services": ["a", "b", "c"]})
    assert c.assess(level, factors, AT)
    [(_, event)] = c.events
    assert isinstance(event, ChangeRiskAssessed) and (event.risk, event.previous_risk) == ("high", "low")
    assert event.factors[0].name == "business_services" and "a, b, c" in event.factors[0].detail
    c.events.clear()
    level, factors = assess_risk({"business_services": ["a", "b", "d"]})
    assert c.assess(level, factors, AT + timedelta(minutes=1))  # other factors kept, no event: same level
    assert c.events == [] and c.risk_factors == factors
    assert not c.assess(level, factors, AT + timedelta(minutes=2))  # nothing new


@pytest.mark.parametrize("state", [State.SCHEDULED, State.IMPLEMENT, State.REVIEW, State.CLOSED])
def test_after_approval_the_assessed_risk_stays(state):
    c = change(state)
    assert not c.assess(*assess_risk({"open_p1_incidents": ["i"]}), AT)
    assert c.risk is None and c.events == []


def test_a_suspected_incident_is_recorded_once_and_published():
    c = change(State.IMPLEMENT)
    c.implemented_at = AT
    incident = SuspectedIncident("i1", "INC0001001", "db", AT + timedelta(hours=1))
    assert c.suspect(incident, AT) and not c.suspect(incident, AT)
    [(_, event)] = c.events
    assert isinstance(event, ChangeIncidentSuspected) and event.incident_id == "i1" and event.implemented_at == AT


def test_suspected_only_within_the_window_after_implementation():
    window = timedelta(hours=24)
    assert suspected_within(AT, AT + timedelta(hours=1), window)
    assert not suspected_within(AT, AT - timedelta(minutes=1), window)
    assert not suspected_within(AT, AT + timedelta(hours=25), window)
    assert not suspected_within(None, AT, window)


def test_a_window_in_a_freeze_weighs_three_points_and_names_the_blackout():
    level, [factor] = assess_risk({"freeze": ["Year-end freeze (2026-12-20 00:00 to 2027-01-03 00:00 UTC)"]})
    assert (level, factor.name, factor.points) == (RiskLevel.MODERATE, "freeze", 3)
    assert factor.detail.startswith("the planned window falls in 1 blackout (freeze) windows")
    assert "Year-end freeze" in factor.detail
