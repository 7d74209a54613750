"""Configuration items, as ITIL service configuration management keeps them in a CMDB. Pure: no I/O.

A CI is identified by its class and its name: no two CIs of one class share a name,
ignoring case ("WEB-01" and "web-01" are one host). Only the store sees every CI, so
the store keeps that rule; the domain names the error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from itsm_contracts.events import EventData
from itsm_contracts.events.cmdb import CiCreated
from itsm_kit.domain import Conflict, InvalidValue, RaisesEvents, choice


class CiClass(StrEnum):
    BUSINESS_SERVICE = "business_service"  # what the business consumes, e.g. "Online checkout"
    APPLICATION = "application"
    SERVICE_INSTANCE = "service_instance"  # one running deployment of an application, e.g. checkout in prod-eu
    HOST = "host"
    CONTAINER_WORKLOAD = "container_workload"  # e.g. a Kubernetes deployment or stateful set
    DATABASE = "database"
    NETWORK_DEVICE = "network_device"
    CLUSTER = "cluster"


class OperationalStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


# Business criticality, ServiceNow's scale: how much the business suffers when the CI fails.
# Change risk and incident impact read it, so it has no default: someone must decide.
CRITICALITY_LABELS = {1: "most critical", 2: "somewhat critical", 3: "less critical", 4: "not critical"}


class DuplicateCi(Conflict):
    def __init__(self, ci_class: CiClass, name: str, existing_id: str | None):
        self.ci_class, self.name, self.existing_id = ci_class, name, existing_id
        super().__init__(f"a {ci_class} named {name!r} already exists (names are unique per class, ignoring case)",
                         existing_id=existing_id)


@dataclass
class ConfigurationItem(RaisesEvents):
    id: str
    name: str
    ci_class: CiClass
    criticality: int
    operational_status: OperationalStatus
    created_at: datetime
    updated_at: datetime
    version: int = 0
    # (sequence, event) raised since loading; the handler stores them with the CI.
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def register(cls, *, id: str, name: str, ci_class: str, criticality: int, operational_status: str = "operational",
                 at: datetime) -> ConfigurationItem:
        if not name.strip():
            raise InvalidValue("a configuration item needs a name")
        if criticality not in CRITICALITY_LABELS:
            raise InvalidValue(f"criticality runs from 1 (most critical) to 4 (not critical), got {criticality}")
        ci = cls(
            id=id, name=name.strip(), ci_class=choice(CiClass, ci_class, "a CI class"), criticality=criticality,
            operational_status=choice(OperationalStatus, operational_status, "an operational status"),
            created_at=at, updated_at=at,
        )
        ci._raise(CiCreated(ci_id=id, name=ci.name, ci_class=ci.ci_class, criticality=criticality, created_at=at), at)
        return ci

    def _raise(self, event: EventData, at: datetime) -> None:
        self.updated_at = at
        self.record(event)
