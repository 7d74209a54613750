"""SLA timers: when they start and stop, when they are due, whether they breached. Pure.

For now one policy, 24x7, with targets per priority; business calendars, pause
conditions and live breach detection build on these same timers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from itsm_contracts.events import EventData
from itsm_contracts.events.sla import SlaTimerStarted, SlaTimerStopped, TimerKind

DEFAULT_POLICY = "default-24x7"

# Targets per priority (1 Critical .. 5 Planning): (response, resolution).
TARGETS: dict[int, dict[TimerKind, timedelta]] = {
    1: {"response": timedelta(minutes=15), "resolution": timedelta(hours=4)},
    2: {"response": timedelta(hours=1), "resolution": timedelta(hours=8)},
    3: {"response": timedelta(hours=4), "resolution": timedelta(days=1)},
    4: {"response": timedelta(hours=8), "resolution": timedelta(days=3)},
    5: {"response": timedelta(days=1), "resolution": timedelta(days=7)},
}

# Which incident change stops which timer.
STOPS_RESPONSE = frozenset({"in_progress", "on_hold", "resolved"})  # someone has picked it up
STOPS_RESOLUTION = frozenset({"resolved"})
CANCELS_ALL = frozenset({"canceled"})


class Stage(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass
class Timer:
    id: str
    incident_id: str
    kind: TimerKind
    policy: str
    priority: int
    started_at: datetime
    due_at: datetime
    stage: Stage = Stage.IN_PROGRESS
    stopped_at: datetime | None = None
    breached: bool = False
    version: int = 0
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def start(cls, *, id: str, incident_id: str, kind: TimerKind, priority: int, at: datetime) -> Timer:
        timer = cls(id=id, incident_id=incident_id, kind=kind, policy=DEFAULT_POLICY, priority=priority,
                    started_at=at, due_at=at + TARGETS[priority][kind])
        timer._raise(SlaTimerStarted(timer_id=id, incident_id=incident_id, kind=kind, policy=timer.policy,
                                     started_at=at, due_at=timer.due_at))
        return timer

    @property
    def running(self) -> bool:
        return self.stage is Stage.IN_PROGRESS

    @property
    def target(self) -> timedelta:
        return self.due_at - self.started_at

    def stop(self, at: datetime) -> None:
        self._finish(Stage.COMPLETED, at)

    def cancel(self, at: datetime) -> None:
        self._finish(Stage.CANCELLED, at)

    def retarget(self, priority: int) -> None:
        """A new priority applies from the start, as if the incident had always had it."""
        self.priority = priority
        self.due_at = self.started_at + TARGETS[priority][self.kind]
        self.version += 1

    def elapsed(self, now: datetime) -> timedelta:
        return (self.stopped_at or now) - self.started_at

    def remaining(self, now: datetime) -> timedelta:
        return self.target - self.elapsed(now)

    def percent(self, now: datetime) -> float:
        return round(100 * self.elapsed(now) / self.target, 2)

    def _finish(self, stage: Stage, at: datetime) -> None:
        if not self.running:
            return
        self.stage, self.stopped_at = stage, at
        self.breached = at > self.due_at
        self._raise(SlaTimerStopped(timer_id=self.id, incident_id=self.incident_id, kind=self.kind, stopped_at=at,
                                    breached=self.breached))

    def _raise(self, event: EventData) -> None:
        self.version += 1
        self.events.append((self.version, event))


def timers_to_stop(to_state: str) -> tuple[set[str], bool]:
    """For an incident moving to `to_state`: the timer kinds to stop, and whether to cancel instead."""
    if to_state in CANCELS_ALL:
        return {"response", "resolution"}, True
    kinds = set()
    if to_state in STOPS_RESPONSE:
        kinds.add("response")
    if to_state in STOPS_RESOLUTION:
        kinds.add("resolution")
    return kinds, False
