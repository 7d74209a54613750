"""Problem management events, published by the problems service on itsm.problems."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

# The problem lifecycle's vocabulary, shared by every service that speaks of problem states.
ProblemState = Literal["new", "assess", "root_cause_analysis", "fix_in_progress", "resolved", "closed"]

# A field's new value in ProblemUpdated: text, a number (impact, urgency, priority), incident ids, or null.
FieldValue = str | int | list[str] | None


class ProblemEvent(EventData):
    topic = topics.PROBLEMS

    problem_id: str
    # Who made the change: a user id (the gateway's JWT subject) or "system".
    actor: str | None = None


@register
class ProblemOpened(ProblemEvent):
    type = "itsm.problem.opened"

    number: str
    short_description: str
    opened_at: datetime
    impact: int | None = None
    urgency: int | None = None
    priority: int | None = None
    assignee: str | None = None
    assignment_group: str | None = None
    related_incidents: list[str] = []


@register
class ProblemUpdated(ProblemEvent):
    """Fields of the problem edited (PATCH): description, impact/urgency (and so priority), assignment, incidents."""

    type = "itsm.problem.updated"

    changes: dict[str, FieldValue]  # field name -> its new value
    updated_at: datetime


@register
class ProblemStateChanged(ProblemEvent):
    type = "itsm.problem.state_changed"

    from_state: ProblemState
    to_state: ProblemState
    changed_at: datetime
