"""Requested items' SLA timers (issue 17), by the request events, with no database and no broker."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from itsm_contracts.events.requests import (
    RequestApprovalRequested, RequestApproved, RequestClosed, RequestedItemSummary, RequestFulfilled,
    RequestRejected, RequestSubmitted, RequestTaskAssigned,
)
from itsm_contracts.events.sla import SlaBreached, SlaMet, SlaTimerStarted, SlaTimerStopped, SlaWarning
from itsm_sla.domain import Stage, Timer
from itsm_sla.domain.calendar import ALWAYS
from itsm_sla.domain.requests import request_timer_id, take

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
REQUEST = "req-1"
ITEM, OTHER = "item-1", "item-2"
_ids = itertools.count(1)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def item(item_id: str = ITEM, *, state: str = "pending_approval", response: int | None = 60,
         fulfilment: int | None = 480) -> RequestedItemSummary:
    return RequestedItemSummary(item_id=item_id, number=f"RITM-{item_id}", catalog_item_id="cat-laptop",
                                name="New laptop", state=state, response_target_minutes=response,
                                fulfilment_target_minutes=fulfilment)


def submitted(*items: RequestedItemSummary) -> RequestSubmitted:
    return RequestSubmitted(request_id=REQUEST, number="REQ1", requested_by="rita", requested_for="rita",
                            short_description="laptop", state="pending_approval", submitted_at=T0,
                            items=list(items or [item()]))


def approval_requested(item_id: str = ITEM) -> RequestApprovalRequested:
    return RequestApprovalRequested(request_id=REQUEST, number="REQ1", item_id=item_id, approval_id="a1", stage=1,
                                    approvers=["mgr"], rule="any", requested_for="rita")


def approved(at: float, item_id: str = ITEM) -> RequestApproved:
    return RequestApproved(request_id=REQUEST, number="REQ1", item_id=item_id, approval_id="a1", stage=1,
                           approved_by=["mgr"], approved_at=minutes(at))


def rejected(at: float, item_id: str = ITEM) -> RequestRejected:
    return RequestRejected(request_id=REQUEST, number="REQ1", item_id=item_id, approval_id="a1", stage=1,
                           rejected_by="mgr", rejected_at=minutes(at), request_state="rejected")


def task_assigned(at: float, *, assignee: str | None, group: str | None = "desk", item_id: str = ITEM,
                  record_type: str = "request_item") -> RequestTaskAssigned:
    return RequestTaskAssigned(task_id="t1", task_number="TASK1", record_type=record_type, record_id=item_id,
                               request_id=REQUEST, name="Image laptop", assignment_group=group, assignee=assignee,
                               assigned_at=minutes(at))


def fulfilled(at: float, item_id: str = ITEM) -> RequestFulfilled:
    return RequestFulfilled(request_id=REQUEST, number="REQ1", item_id=item_id, fulfilled_at=minutes(at),
                            request_state="fulfilled")


def closed(at: float, state: str, *items: RequestedItemSummary) -> RequestClosed:
    return RequestClosed(request_id=REQUEST, number="REQ1", state=state, items=list(items), closed_at=minutes(at))


class Item:
    """One request's timers, moved event by event as the handler does."""

    def __init__(self) -> None:
        self.timers: dict[str, list[Timer]] = {}

    def take(self, data, at: float = 0) -> list[Timer]:
        return take(self.timers, data, f"e{next(_ids)}", minutes(at))

    def timer(self, kind: str, item_id: str = ITEM) -> Timer:
        [found] = [t for t in self.timers.get(item_id, []) if t.kind == kind]
        return found

    def kinds(self, item_id: str = ITEM) -> set[str]:
        return {t.kind for t in self.timers.get(item_id, [])}


def events(timer: Timer) -> list:
    return [e for _, e in timer.events]


# -- start ---------------------------------------------------------------------------------------


def test_each_item_gets_a_response_and_a_fulfilment_timer_from_its_targets():
    request = Item()
    started = request.take(submitted(item(ITEM, response=30, fulfilment=240),
                                     item(OTHER, state="in_fulfilment", response=15, fulfilment=None)))
    assert len(started) == 3
    assert request.kinds(ITEM) == {"response", "fulfilment"}
    assert request.kinds(OTHER) == {"response"}  # no fulfilment target: no fulfilment timer
    response = request.timer("response")
    assert response.target == timedelta(minutes=30) and request.timer("fulfilment").target == timedelta(minutes=240)
    assert (response.record_type, response.record_id, response.request_id, response.incident_id) == (
        "request_item", ITEM, REQUEST, None)
    assert response.started_at == T0 and response.due_at == minutes(30)
    assert response.id == request_timer_id(ITEM, "response")
    [start] = events(response)
    assert isinstance(start, SlaTimerStarted) and start.record_type == "request_item" and start.record_id == ITEM
    assert start.incident_id == ""


def test_an_item_without_targets_gets_no_timer():
    request = Item()
    assert request.take(submitted(item(response=None, fulfilment=None))) == []
    assert request.timers == {}


def test_a_repeated_submission_starts_nothing_more():
    request = Item()
    request.take(submitted())
    assert request.take(submitted()) == []
    assert len(request.timers[ITEM]) == 2


# -- approval --------------------------------------------------------------------------------------


def test_fulfilment_waits_paused_while_the_item_waits_for_approval():
    request = Item()
    request.take(submitted())  # pending approval
    fulfilment = request.timer("fulfilment")
    assert fulfilment.stage is Stage.PAUSED and fulfilment.due_at is None
    request.take(approval_requested(), 0)
    request.take(approved(120), 120)
    assert fulfilment.stage is Stage.IN_PROGRESS
    # the two hours of waiting for the manager do not count against the eight-hour target
    assert fulfilment.elapsed(ALWAYS, minutes(180)) == timedelta(minutes=60)
    assert fulfilment.due_at == minutes(120 + 480)


def test_a_later_approval_stage_pauses_fulfilment_again():
    request = Item()
    request.take(submitted(item(state="in_fulfilment")))
    fulfilment = request.timer("fulfilment")
    assert fulfilment.stage is Stage.IN_PROGRESS
    request.take(approval_requested(), 30)
    assert fulfilment.stage is Stage.PAUSED
    assert fulfilment.elapsed(ALWAYS, minutes(300)) == timedelta(minutes=30)


# -- response -----------------------------------------------------------------------------------------


def test_response_is_met_when_a_task_is_assigned_to_a_person():
    request = Item()
    request.take(submitted(item(state="in_fulfilment")))
    response = request.timer("response")
    request.take(task_assigned(5, assignee=None), 5)  # to a group only: nobody has acted yet
    assert response.stage is Stage.IN_PROGRESS
    request.take(task_assigned(20, assignee="alice"), 20)
    assert response.stage is Stage.COMPLETED and not response.breached and response.stopped_at == minutes(20)
    assert any(isinstance(e, SlaMet) for e in events(response))
    assert request.timer("fulfilment").stage is Stage.IN_PROGRESS


def test_a_task_of_another_record_moves_no_item_timer():
    request = Item()
    request.take(submitted(item(state="in_fulfilment")))
    request.take(task_assigned(5, assignee="alice", record_type="incident"), 5)
    assert request.timer("response").stage is Stage.IN_PROGRESS


def test_response_is_met_when_the_item_is_approved():
    request = Item()
    request.take(submitted())
    request.take(approved(10), 10)
    assert request.timer("response").stage is Stage.COMPLETED
    assert not request.timer("response").breached


# -- fulfilment --------------------------------------------------------------------------------------


def test_fulfilled_item_completes_its_fulfilment_timer_met():
    request = Item()
    request.take(submitted(item(state="in_fulfilment")))
    request.take(fulfilled(200), 200)
    fulfilment = request.timer("fulfilment")
    assert fulfilment.stage is Stage.COMPLETED and not fulfilment.breached and fulfilment.stopped_at == minutes(200)
    assert [e.outcome for e in events(fulfilment) if isinstance(e, SlaTimerStopped)] == ["met"]
    assert request.timer("response").stage is Stage.COMPLETED  # someone acted
    assert fulfilment.next_alarm_at is None  # nothing left to announce


def test_fulfilled_late_completes_it_breached():
    request = Item()
    request.take(submitted(item(state="in_fulfilment", fulfilment=60)))
    request.take(fulfilled(90), 90)
    fulfilment = request.timer("fulfilment")
    assert fulfilment.stage is Stage.COMPLETED and fulfilment.breached and fulfilment.breached_at == minutes(60)


def test_closed_request_completes_what_its_fulfilled_items_left_open():
    request = Item()
    request.take(submitted(item(state="in_fulfilment")))
    request.take(closed(100, "fulfilled", item(state="fulfilled")), 100)
    assert request.timer("fulfilment").stage is Stage.COMPLETED


# -- cancel ---------------------------------------------------------------------------------------


def test_rejection_cancels_fulfilment_and_meets_the_response():
    request = Item()
    request.take(submitted(item(fulfilment=30)))
    request.take(rejected(600), 600)  # long past the fulfilment target, but it was paused: never breached
    fulfilment = request.timer("fulfilment")
    assert fulfilment.stage is Stage.CANCELLED and not fulfilment.breached
    assert fulfilment.next_alarm_at is None
    assert request.timer("response").stage is Stage.COMPLETED


def test_a_canceled_request_cancels_its_items_timers_never_breached():
    request = Item()
    request.take(submitted(item(state="in_fulfilment", response=30, fulfilment=60)))
    request.take(closed(10, "canceled", item(state="canceled")), 10)
    for kind in ("response", "fulfilment"):
        timer = request.timer(kind)
        assert timer.stage is Stage.CANCELLED and not timer.breached and timer.next_alarm_at is None
        assert not timer.is_breached(ALWAYS, minutes(1000))


# -- warnings and breach --------------------------------------------------------------------------


def test_a_late_item_breaches_naming_the_requested_item():
    request = Item()
    request.take(submitted(item(state="in_fulfilment", response=None, fulfilment=10)))
    fulfilment = request.timer("fulfilment")
    fulfilment.events.clear()
    assert fulfilment.next_alarm_at == minutes(5)  # the 50% warning first
    warning = fulfilment.alarm(ALWAYS, minutes(6))
    assert isinstance(warning, SlaWarning) and warning.threshold == 50
    breach = fulfilment.alarm(ALWAYS, minutes(11))
    assert isinstance(breach, SlaBreached) and breach.breached_at == minutes(10)
    assert (breach.record_type, breach.record_id, breach.request_id, breach.record_number) == (
        "request_item", ITEM, REQUEST, "RITM-item-1")
    assert breach.incident_id == "" and breach.kind == "fulfilment" and breach.policy == "New laptop"
    assert fulfilment.breached and fulfilment.stage is Stage.IN_PROGRESS  # it runs on to its stop


def test_a_paused_item_does_not_breach():
    request = Item()
    request.take(submitted(item(response=None, fulfilment=10)))  # waiting for approval
    fulfilment = request.timer("fulfilment")
    assert fulfilment.next_alarm_at is None
    assert fulfilment.alarm(ALWAYS, minutes(600)) is None
