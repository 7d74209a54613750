"""Configuration management events, published by the cmdb service on itsm.cmdb.

A CI's events have the CI id as subject and its version as sequence. A relationship is an
aggregate of its own: subject its id, sequence 1 when added and 2 when removed, so a
reader keyed by relationship id never applies a removal before its addition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from itsm_contracts import topics
from itsm_contracts.events import EventData, register


class CiEvent(EventData):
    topic = topics.CMDB

    ci_id: str
    # Who wrote it: a discovery source's name (e.g. "vmware", "kubernetes") or "manual".
    data_source: str | None = None


@register
class CiCreated(CiEvent):
    type = "itsm.ci.created"

    name: str
    ci_class: str
    criticality: int
    created_at: datetime
    operational_status: str | None = None
    environment: str | None = None
    owner_group: str | None = None
    attributes: dict[str, Any] | None = None  # the class's attributes (fqdn, serial_number, ...)


@register
class CiUpdated(CiEvent):
    """Fields other than the operational status changed: name, criticality, owner group,
    environment or class attributes, each by its name."""

    type = "itsm.ci.updated"

    changes: dict[str, Any]  # field name -> its new value (null: emptied)
    updated_at: datetime


@register
class CiStatusChanged(CiEvent):
    """Between live statuses (operational, degraded, down, maintenance); retiring is `retired`."""

    type = "itsm.ci.status_changed"

    from_status: str
    to_status: str
    changed_at: datetime


@register
class CiRetired(CiEvent):
    """Out of service for good: its relationships were removed with it (each its own event)."""

    type = "itsm.ci.retired"

    from_status: str
    retired_at: datetime


class RelationshipEvent(EventData):
    topic = topics.CMDB

    relationship_id: str
    source_id: str  # the CI that depends on, runs on, is hosted on, connects to or contains...
    target_id: str  # ...this one; impact flows from target to source
    relationship_type: str  # depends_on, runs_on, hosted_on, connects_to, contains
    data_source: str | None = None


@register
class CiRelationshipAdded(RelationshipEvent):
    type = "itsm.ci.relationship_added"

    added_at: datetime


@register
class CiRelationshipRemoved(RelationshipEvent):
    type = "itsm.ci.relationship_removed"

    removed_at: datetime
