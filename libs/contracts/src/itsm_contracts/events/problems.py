"""Problem management events, published by the problems service on itsm.problems."""

from __future__ import annotations

from datetime import datetime

from itsm_contracts import topics
from itsm_contracts.events import EventData, register


@register
class ProblemOpened(EventData):
    type = "itsm.problem.opened"
    topic = topics.PROBLEMS

    problem_id: str
    number: str
    short_description: str
    opened_at: datetime
