"""Requested items' timers (issue 17): the response and fulfilment targets an item's catalogue entry gave it
when it was ordered, counted in 24x7 time. Pure.

A requested item's timers are the incident timers' kind (segments, pause, stop, warnings and breach by the
scheduler) but need neither SLA definitions nor a replayed history: the targets come with the submission, and
a request's events arrive in order (one subject, one partition), each moving its items' timers as this table
says. A move a timer cannot make (pausing a paused one, stopping a stopped one) changes nothing, so a late or
repeated event is harmless.

- submitted: each item gets a response timer and a fulfilment timer from its targets (no target: no timer of
  that kind), started at the submission; the fulfilment timer starts paused if the item waits for approval;
- approval requested: fulfilment pauses (the business's time, not the desk's, as an incident on hold);
- approved: the response is met (someone acted) and fulfilment runs again;
- rejected: the response is met (the approver answered); fulfilment is cancelled (nothing to fulfil);
- a task assigned to a person: the response is met (to a group only: not yet);
- fulfilled: both stop, met, or breached if late;
- closed: each item's final state stops what is still open: fulfilled or closed incomplete complete it (the
  desk's outcome counts, met or breached by the clock); rejected or canceled cancel it (never breached).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from itsm_contracts import EventData
from itsm_contracts.events.requests import (
    RequestApprovalRequested, RequestApproved, RequestClosed, RequestedItemSummary, RequestFulfilled,
    RequestRejected, RequestSubmitted, RequestTaskAssigned,
)
from itsm_sla.domain.calendar import ALWAYS
from itsm_sla.domain.timers import Segment, Stage, Timer

REQUEST_ITEM = "request_item"
CATALOGUE = "catalogue-item"  # what a requested item's timers run by, in place of an SLA definition
NO_PRIORITY = 0  # requests have none; events and reports want a number
THRESHOLDS = (50, 75, 90)  # as the default SLA definitions warn
_IDS = uuid.UUID("0b6f8a8e-3c55-4f0c-9a57-2f1d2c7d9e61")

Move = Literal["pause", "resume", "complete", "cancel"]
Moves = Mapping[str, Move]  # timer kind -> move

# What each event does to its item's timers.
ON_EVENT: Mapping[str, Moves] = {
    RequestApprovalRequested.type: {"fulfilment": "pause"},
    RequestApproved.type: {"response": "complete", "fulfilment": "resume"},
    RequestRejected.type: {"response": "complete", "fulfilment": "cancel"},
    RequestFulfilled.type: {"response": "complete", "fulfilment": "complete"},
}
ON_PERSON_ASSIGNED: Moves = {"response": "complete"}
# RequestClosed: by each item's final state.
ON_CLOSED: Mapping[str, Moves] = {
    "fulfilled": {"response": "complete", "fulfilment": "complete"},
    "closed_incomplete": {"response": "complete", "fulfilment": "complete"},
    "rejected": {"response": "complete", "fulfilment": "cancel"},
    "canceled": {"response": "cancel", "fulfilment": "cancel"},
}
REASONS = {RequestApprovalRequested.type: "waiting for approval", RequestApproved.type: "approved",
           RequestRejected.type: "rejected", RequestFulfilled.type: "fulfilled", RequestClosed.type: "request closed",
           RequestTaskAssigned.type: "a task was assigned to a person"}


def request_timer_id(item_id: str, kind: str) -> str:
    """Deterministic: a repeated submission gives the same timers (and adds none)."""
    return str(uuid.uuid5(_IDS, f"{REQUEST_ITEM}/{item_id}/{kind}"))


def moves_of(data: EventData) -> list[tuple[str, Moves]]:
    """(requested item id, moves) for each item this event moves; none for events that time nothing."""
    if isinstance(data, RequestClosed):
        return [(item.item_id, ON_CLOSED[item.state]) for item in data.items if item.state in ON_CLOSED]
    if isinstance(data, RequestTaskAssigned):
        return [(data.record_id, ON_PERSON_ASSIGNED)] if data.record_type == REQUEST_ITEM and data.assignee else []
    if data.type in ON_EVENT:
        return [(data.item_id, ON_EVENT[data.type])]
    return []


def items_of(data: EventData) -> list[str]:
    """The requested items whose timers an event starts or moves."""
    if isinstance(data, RequestSubmitted):
        return [item.item_id for item in data.items]
    return [item_id for item_id, _ in moves_of(data)]


def started(data: RequestSubmitted, event_id: str) -> list[Timer]:
    """The timers a submission starts: per item, one per target it carries."""
    return [_timer(data, item, kind, minutes, event_id) for item in data.items
            for kind, minutes in (("response", item.response_target_minutes),
                                  ("fulfilment", item.fulfilment_target_minutes))
            if minutes is not None and item.state in ("pending_approval", "in_fulfilment")]


def _timer(data: RequestSubmitted, item: RequestedItemSummary, kind: str, minutes: int, event_id: str) -> Timer:
    waiting = kind == "fulfilment" and item.state == "pending_approval"
    at = data.submitted_at
    timer = Timer(
        id=request_timer_id(item.item_id, kind), incident_id=None, definition_id=CATALOGUE, definition_version=1,
        kind=kind, cycle=1, policy=item.name[:200], priority=NO_PRIORITY, business_service=None,
        target=timedelta(minutes=minutes), calendar_id=None, calendar_version=None, thresholds=THRESHOLDS,
        escalation_group=None, started_at=at, attached_at=at,
        segments=[Segment("paused" if waiting else "running", at, None, event_id, None,
                          "submitted, waiting for approval" if waiting else "submitted")],
        stage=Stage.PAUSED if waiting else Stage.IN_PROGRESS, record_type=REQUEST_ITEM, request_item_id=item.item_id,
        request_id=data.request_id, record_number=item.number,
    )
    timer.refresh(ALWAYS)
    timer.record(timer.started_event(ALWAYS))
    return timer


def take(timers: dict[str, list[Timer]], data: EventData, event_id: str, at: datetime) -> list[Timer]:
    """Apply one request event to its items' timers (`timers`: item id -> its timers, changed in place); returns
    the timers it started (also added to `timers`)."""
    if isinstance(data, RequestSubmitted):
        have = {t.id for listed in timers.values() for t in listed}
        new = [t for t in started(data, event_id) if t.id not in have]
        for timer in new:
            timers.setdefault(timer.request_item_id, []).append(timer)
        return new
    reason = REASONS.get(data.type, data.type)
    for item_id, moves in moves_of(data):
        for timer in timers.get(item_id, []):
            move = moves.get(timer.kind)
            if move is not None:
                getattr(timer, move)(ALWAYS, at, event_id, reason)
                timer.refresh(ALWAYS)
    return []
