"""Monitoring payloads normalized into one alert contract, then an integration's policy applied. Pure: no I/O.

One module per source (alertmanager, grafana, pagerduty, generic) turns its body into
AlertReceived events with the sender's own dedup and group keys; policy.py then gives each
its integration's dedup key, storm group, routing decision and incident flags.
"""

from itsm_gateway.domain.alertmanager import AlertmanagerWebhook, from_alertmanager
from itsm_gateway.domain.common import (
    SizeLimits, TooLarge, alertmanager_fingerprint, check_sizes, labels_fingerprint, severity_of,
)
from itsm_gateway.domain.generic import GenericAlert, GenericBatch, GenericBody, from_generic
from itsm_gateway.domain.grafana import GrafanaWebhook, from_grafana
from itsm_gateway.domain.pagerduty import PagerDutyEvent, PagerDutyTrigger, PagerDutyUpdate, from_pagerduty
from itsm_gateway.domain.policy import (
    KINDS, IntegrationPolicy, Kind, RoutingRule, RoutingSet, apply_policy, check_policy, route,
)

__all__ = [
    "KINDS", "AlertmanagerWebhook", "GenericAlert", "GenericBatch", "GenericBody", "GrafanaWebhook",
    "IntegrationPolicy", "Kind", "PagerDutyEvent", "PagerDutyTrigger", "PagerDutyUpdate", "RoutingRule",
    "RoutingSet", "SizeLimits", "TooLarge", "alertmanager_fingerprint", "apply_policy", "check_policy",
    "check_sizes", "from_alertmanager", "from_generic", "from_grafana", "from_pagerduty", "labels_fingerprint",
    "route", "severity_of",
]
