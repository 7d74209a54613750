"""SLA timer events, published by the sla service on itsm.sla."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

TimerKind = Literal["response", "resolution"]


class SlaTimerEvent(EventData):
    topic = topics.SLA

    timer_id: str
    incident_id: str
    kind: TimerKind


@register
class SlaTimerStarted(SlaTimerEvent):
    type = "itsm.sla.timer_started"

    policy: str
    started_at: datetime
    due_at: datetime


@register
class SlaTimerStopped(SlaTimerEvent):
    type = "itsm.sla.timer_stopped"

    stopped_at: datetime
    breached: bool
