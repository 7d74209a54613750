"""The SLA rules, pure: business calendars, definitions, incident history and timers.

- calendar: business time (working hours in a timezone, holidays), add and measure;
- definitions: which incidents a definition applies to, its goals and their conditions;
- history: incident events as facts, folded into the incident record step by step;
- timers: the timers those steps start, pause, resume, stop, cancel and reset, and the
  engine that applies them (also to replay a history, for repair);
- requests: requested items' response and fulfilment timers, moved by request events (issue 17).
"""

from itsm_sla.domain.calendar import ALWAYS, Calendar, Clock, NoWorkingTime
from itsm_sla.domain.definitions import AppliesTo, Definition, Goal, default_definitions
from itsm_sla.domain.history import Arrival, Fact, Record, Step, arrive, fact_of, ordered, steps
from itsm_sla.domain.timers import Engine, Library, RepairOutcome, Segment, Stage, Timer, timer_id

__all__ = [
    "ALWAYS", "AppliesTo", "Arrival", "Calendar", "Clock", "Definition", "Engine", "Fact", "Goal", "Library",
    "NoWorkingTime", "Record", "RepairOutcome", "Segment", "Stage", "Step", "Timer", "arrive", "default_definitions",
    "fact_of", "ordered", "steps", "timer_id",
]
