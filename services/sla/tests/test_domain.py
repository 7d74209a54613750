"""SLA timer rules, with no database and no broker."""

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.events.sla import SlaTimerStarted, SlaTimerStopped
from itsm_sla.domain import TARGETS, Stage, Timer, timers_to_stop

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def timer(kind="resolution", priority=1) -> Timer:
    return Timer.start(id="t-1", incident_id="i-1", kind=kind, priority=priority, at=T0)


def test_due_time_is_start_plus_the_priority_target():
    t = timer("response", priority=1)
    assert t.due_at == T0 + timedelta(minutes=15)
    [(seq, started)] = t.events
    assert seq == 1 and isinstance(started, SlaTimerStarted) and started.due_at == t.due_at


def test_every_priority_has_a_response_target_shorter_than_resolution():
    for priority, targets in TARGETS.items():
        assert targets["response"] < targets["resolution"], priority


def test_stopping_before_due_is_met_and_after_due_is_breached():
    met, late = timer(), timer()
    met.stop(T0 + timedelta(hours=3, minutes=59))
    late.stop(T0 + timedelta(hours=4, seconds=1))
    assert met.stage is Stage.COMPLETED and not met.breached
    assert late.stage is Stage.COMPLETED and late.breached
    assert isinstance(late.events[-1][1], SlaTimerStopped) and late.events[-1][1].breached


def test_a_stopped_timer_stays_stopped():
    t = timer()
    t.stop(T0 + timedelta(hours=1))
    t.stop(T0 + timedelta(hours=9))
    assert t.stopped_at == T0 + timedelta(hours=1) and not t.breached
    assert len(t.events) == 2


def test_elapsed_remaining_and_percent_while_running_and_after_stop():
    t = timer(priority=1)  # 4 h resolution
    now = T0 + timedelta(hours=1)
    assert t.elapsed(now) == timedelta(hours=1)
    assert t.remaining(now) == timedelta(hours=3)
    assert t.percent(now) == 25.0
    t.stop(T0 + timedelta(hours=2))
    assert t.percent(T0 + timedelta(days=9)) == 50.0


def test_new_priority_applies_retroactively_from_the_start():
    t = timer(priority=4)
    t.retarget(1)
    assert t.due_at == T0 + timedelta(hours=4)


@pytest.mark.parametrize(
    ("state", "kinds", "cancel"),
    [
        ("in_progress", {"response"}, False),
        ("on_hold", {"response"}, False),
        ("resolved", {"response", "resolution"}, False),
        ("canceled", {"response", "resolution"}, True),
        ("closed", set(), False),
    ],
)
def test_which_incident_states_stop_which_timers(state, kinds, cancel):
    assert timers_to_stop(state) == (kinds, cancel)
