"""What every monitoring source's normalizer shares: one severity scale, alert identity, times."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from itsm_contracts.events.alerts import Severity

# Severity words seen in the wild, mapped onto our four levels (PagerDuty's).
SEVERITY_ALIASES: dict[str, Severity] = {
    "critical": "critical", "crit": "critical", "page": "critical", "p1": "critical", "disaster": "critical",
    "fatal": "critical", "emergency": "critical",
    "error": "error", "high": "error", "major": "error", "p2": "error",
    "warning": "warning", "warn": "warning", "medium": "warning", "minor": "warning", "average": "warning",
    "p3": "warning",
    "info": "info", "informational": "info", "low": "info", "none": "info", "p4": "info", "p5": "info",
}
DEFAULT_SEVERITY: Severity = "warning"
# Longest dedup key we pass on (PagerDuty's own limit); longer configured keys are hashed.
MAX_DEDUP_KEY = 255


def severity_of(value: str | None) -> Severity:
    return SEVERITY_ALIASES.get((value or "").strip().lower(), DEFAULT_SEVERITY)


def is_known_severity(value: str) -> bool:
    return value.strip().lower() in SEVERITY_ALIASES


def labels_fingerprint(labels: dict[str, str]) -> str:
    """Stable identity of an alert from its label set, when the sender gives none."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def real_time(value: datetime | None) -> datetime | None:
    """None for Alertmanager's and Grafana's 0001-01-01T00:00:00Z ("not ended yet"); naive times are UTC."""
    if value is None or value.year <= 1:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
