"""Our own generic JSON alert, for every sender that is none of the others. One alert or a batch.

    {"dedup_key": "db-1/disk", "status": "firing", "severity": "critical",
     "summary": "Disk 95% full on db-1", "description": "...", "source": "db-1",
     "labels": {"service": "billing"}, "annotations": {"runbook": "https://..."},
     "occurred_at": "2026-11-25T10:00:00Z", "url": "https://monitor/check/42"}

or {"alerts": [<alert>, ...]}. Only `summary` is required. Unknown fields are refused (a typo
such as "dedupkey" would otherwise merge every alert into one), and so are severities
outside the words severity_of knows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from itsm_contracts.events.alerts import AlertReceived, AlertStatus
from itsm_gateway.domain.alertmanager import MAX_BATCH
from itsm_gateway.domain.common import (
    DEFAULT_SEVERITY, MAX_DEDUP_KEY, SEVERITY_ALIASES, Annotations, Labels, is_known_severity, labels_fingerprint,
    severity_of,
)


class GenericAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dedup_key: str | None = Field(default=None, min_length=1, max_length=MAX_DEDUP_KEY, description=(
        "names the alert across firing and resolved; without it, labels and source do"))
    status: AlertStatus = "firing"
    severity: str = Field(default=DEFAULT_SEVERITY, description=(
        "critical, error, warning or info, or a common synonym (" + ", ".join(sorted(SEVERITY_ALIASES)) + ")"))
    summary: str = Field(min_length=1, max_length=1024)
    description: str = Field(default="", max_length=32_000)
    source: str = Field(default="", max_length=255, description="the affected host or system")
    labels: Labels = {}
    annotations: Annotations = {}
    occurred_at: AwareDatetime | None = None
    url: str | None = Field(default=None, max_length=2048, description="where the sender shows this alert")

    @field_validator("severity")
    @classmethod
    def _known_severity(cls, value: str) -> str:
        if not is_known_severity(value):
            raise ValueError(f"severity is critical, error, warning or info (or a common synonym), not {value!r}")
        return value


class GenericBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: list[GenericAlert] = Field(min_length=1, max_length=MAX_BATCH)


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "alerts" in value else "alert"


# One alert or a batch, told apart by an `alerts` member, so errors name only the shape sent.
GenericBody = Annotated[Annotated[GenericBatch, Tag("batch")] | Annotated[GenericAlert, Tag("alert")],
                        Discriminator(_shape)]


def generic_dedup_key(alert: GenericAlert) -> str:
    """The sender's dedup_key; else its labels and source; else (nothing else to go by) its summary."""
    if alert.dedup_key:
        return alert.dedup_key
    identity = {**alert.labels, **({"\x02source": alert.source} if alert.source else {})}
    return labels_fingerprint(identity or {"\x02summary": alert.summary})


def from_generic(body: GenericAlert | GenericBatch, integration_id: str, received_at: datetime) -> list[AlertReceived]:
    alerts = body.alerts if isinstance(body, GenericBatch) else [body]
    return [
        AlertReceived(
            integration_id=integration_id,
            integration_kind="generic",
            dedup_key=generic_dedup_key(alert),
            status=alert.status,
            severity=severity_of(alert.severity),
            summary=alert.summary,
            description=alert.description,
            source=alert.source,
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=alert.occurred_at,
            generator_url=alert.url,
            received_at=received_at,
        )
        for alert in alerts
    ]
