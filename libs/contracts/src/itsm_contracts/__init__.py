"""itsm-contracts: the API between services. Importing it registers every event type."""

from itsm_contracts import topics
from itsm_contracts.envelope import CloudEvent
from itsm_contracts.events import REGISTRY, EventData, UnknownEventType, envelope, event_json, parse_data
from itsm_contracts.events import (  # noqa: F401  (registers)
    alerts, changes, cmdb, directory, external, incidents, knowledge, problems, requests, sla,
)

__all__ = ["CloudEvent", "EventData", "REGISTRY", "UnknownEventType", "envelope", "event_json", "parse_data", "topics"]
