"""SLA timer events, published by the sla service on itsm.sla.

A timer's events have the timer id as subject and its version as sequence. Warnings and
breaches are raised by sla's scheduler at the moment a threshold is crossed (each at most
once per timer); `met` when a timer stops before its due time.

A timer runs for an incident or for a requested item (issue 17): `record_type` and `record_id` name
the record; `incident_id` is the incident's id for an incident's timer and empty for any other
record's (it was the only name before requests were timed, and stays required).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

# fulfilment: a requested item's (its catalogue item's fulfilment target); incidents have response and resolution.
TimerKind = Literal["response", "resolution", "fulfilment"]
TimedRecord = Literal["incident", "request_item"]
TimerStage = Literal["in_progress", "paused", "completed", "cancelled"]


class SlaTimerEvent(EventData):
    topic = topics.SLA

    timer_id: str
    incident_id: str
    kind: TimerKind
    definition_id: str | None = None  # the SLA definition the timer runs by
    record_type: TimedRecord | None = None  # null from before requests were timed: an incident
    record_id: str | None = None  # the incident's or the requested item's id


@register
class SlaTimerStarted(SlaTimerEvent):
    type = "itsm.sla.timer_started"

    policy: str  # the definition's name
    started_at: datetime  # the opening when the start is retroactive
    due_at: datetime  # while paused: were it to resume at the start
    cycle: int | None = None  # 1, then 2, ... after a reset
    stage: TimerStage | None = None  # paused when it attaches to an incident on hold


@register
class SlaTimerStopped(SlaTimerEvent):
    type = "itsm.sla.timer_stopped"

    stopped_at: datetime
    breached: bool
    outcome: Literal["met", "breached", "cancelled"] | None = None


@register
class SlaTimerPaused(SlaTimerEvent):
    type = "itsm.sla.timer_paused"

    paused_at: datetime
    elapsed_seconds: float  # business time counted so far


@register
class SlaTimerResumed(SlaTimerEvent):
    """Running again: after a pause, or after a reopen of a resolution timer."""

    type = "itsm.sla.timer_resumed"

    resumed_at: datetime
    due_at: datetime | None


@register
class SlaTimerRepaired(SlaTimerEvent):
    """Recomputed from the incident's history after a definition or calendar change."""

    type = "itsm.sla.timer_repaired"

    stage: TimerStage
    due_at: datetime | None
    breached: bool
    repaired_at: datetime


class SlaAlarm(SlaTimerEvent):
    policy: str
    priority: int
    due_at: datetime
    target_seconds: float
    escalation_group: str | None = None
    record_number: str | None = None  # a requested item's number (RITM...), for messages
    request_id: str | None = None  # a requested item's request


@register
class SlaWarning(SlaAlarm):
    """A warning threshold (a percentage of the target) was crossed."""

    type = "itsm.sla.warning"

    threshold: int  # percent
    crossed_at: datetime


@register
class SlaBreached(SlaAlarm):
    """The target was exceeded at `breached_at` (the due time); the timer keeps running to its stop."""

    type = "itsm.sla.breached"

    breached_at: datetime
    detected_at: datetime  # when sla noticed: the due time, or later after an outage


@register
class SlaMet(SlaTimerEvent):
    type = "itsm.sla.met"

    policy: str
    stopped_at: datetime
    due_at: datetime | None
    elapsed_seconds: float
    target_seconds: float
