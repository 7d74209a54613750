"""Configuration management events, published by the cmdb service on itsm.cmdb."""

from __future__ import annotations

from datetime import datetime

from itsm_contracts import topics
from itsm_contracts.events import EventData, register


@register
class CiCreated(EventData):
    type = "itsm.ci.created"
    topic = topics.CMDB

    ci_id: str
    name: str
    ci_class: str
    criticality: int
    created_at: datetime
