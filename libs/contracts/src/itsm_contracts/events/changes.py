"""Change enablement events, published by the changes service on itsm.changes."""

from __future__ import annotations

from datetime import datetime

from itsm_contracts import topics
from itsm_contracts.events import EventData, register


@register
class ChangeRequested(EventData):
    type = "itsm.change.requested"
    topic = topics.CHANGES

    change_id: str
    number: str
    short_description: str
    change_type: str
    requested_at: datetime
