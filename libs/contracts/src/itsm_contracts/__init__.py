"""itsm-contracts: the API between services. Importing it registers every event type."""

from itsm_contracts import topics
from itsm_contracts.envelope import CloudEvent
from itsm_contracts.events import REGISTRY, EventData, UnknownEventType, envelope, parse_data
from itsm_contracts.events import alerts, changes, cmdb, external, incidents, problems, sla  # noqa: F401  (registers)

__all__ = ["CloudEvent", "EventData", "REGISTRY", "UnknownEventType", "envelope", "parse_data", "topics"]
