"""What every monitoring source's normalizer shares: one severity scale, alert identity, bounds, times."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field

from itsm_contracts.events.alerts import AlertReceived, Severity
from itsm_kit.domain import InvalidValue

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

# --- bounds on what a sender's alert may carry (README, "Limits") ---------------------------
# Longest dedup key we pass on (PagerDuty's own limit, and the incidents service's column); a
# sender's longer fingerprint or a longer configured key is hashed, so it still names one alert.
MAX_DEDUP_KEY = 255
# Longest storm group, before the integration id and ":" that namespace it (incidents keeps 512).
MAX_GROUP_KEY = 475
# Per alert, common labels included. Prometheus series seldom carry 30 labels (Grafana Mimir's
# default limit); rules and external labels add a few.
MAX_LABELS = 64
MAX_NAME = 256  # a label or annotation name
# A label value (Grafana Mimir's default limit). Routing rules' regular expressions and dedup
# templates read label values, so this also bounds the work per alert.
MAX_LABEL_VALUE = 2048
MAX_ANNOTATIONS = 128
MAX_ANNOTATION_VALUE = 65_536  # descriptions and runbooks; the whole alert has its own budget

LabelValue = Annotated[str, Field(max_length=MAX_LABEL_VALUE)]
Labels = Annotated[dict[Annotated[str, Field(max_length=MAX_NAME)], LabelValue], Field(max_length=MAX_LABELS)]
Annotations = Annotated[dict[Annotated[str, Field(max_length=MAX_NAME)],
                             Annotated[str, Field(max_length=MAX_ANNOTATION_VALUE)]],
                        Field(max_length=MAX_ANNOTATIONS)]


@dataclass(frozen=True)
class SizeLimits:
    """Budgets of normalised alerts, in bytes of their text (UTF-8): one alert, and a whole request.

    A request's alerts are measured after common labels and annotations were copied into each,
    which is what Kafka will carry.
    """

    alert_bytes: int
    batch_bytes: int


class TooLarge(InvalidValue):
    """Input over a size budget (the HTTP edge answers 413)."""


def severity_of(value: str | None) -> Severity:
    return SEVERITY_ALIASES.get((value or "").strip().lower(), DEFAULT_SEVERITY)


def is_known_severity(value: str) -> bool:
    return value.strip().lower() in SEVERITY_ALIASES


def labels_fingerprint(labels: dict[str, str]) -> str:
    """Stable identity of a generic alert from its label set, when the sender gives none."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_U64 = (1 << 64) - 1
_SEPARATOR = 0xFF  # Prometheus' SeparatorByte: no UTF-8 sequence holds it


def _fnv1a64(data: bytes, h: int) -> int:
    for byte in data:
        h = ((h ^ byte) * _FNV64_PRIME) & _U64
    return h


def alertmanager_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's own fingerprint of an alert: what Alertmanager 0.19+ sends as `fingerprint`.

    Prometheus' model.LabelSet.Fingerprint: FNV-1a 64 over each label name and value in name
    order (bytewise, which sorting str by code point is in UTF-8), each followed by the byte
    0xff, written as 16 lowercase hex digits. Keying older senders' alerts by it lets an upgraded
    Alertmanager's resolution still find them.
    """
    h = _FNV64_OFFSET
    for name in sorted(labels):
        h = _fnv1a64(name.encode("utf-8", "surrogatepass"), h)  # refused later as not Unicode, not here
        h = ((h ^ _SEPARATOR) * _FNV64_PRIME) & _U64
        h = _fnv1a64(labels[name].encode("utf-8", "surrogatepass"), h)
        h = ((h ^ _SEPARATOR) * _FNV64_PRIME) & _U64
    return f"{h:016x}"


def bounded(key: str, limit: int) -> str:
    """The key, or its SHA-256 when longer than `limit`: still one stable name per key."""
    return key if len(key) <= limit else hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def real_time(value: datetime | None) -> datetime | None:
    """None for Alertmanager's and Grafana's 0001-01-01T00:00:00Z ("not ended yet"); naive times are UTC."""
    if value is None or value.year <= 1:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def check_counts(n: int, labels: Mapping[str, str], annotations: Mapping[str, str]) -> None:
    """Common labels and annotations are copied into each alert: the merged sets keep the bounds too."""
    for what, values, most in (("labels", labels, MAX_LABELS), ("annotations", annotations, MAX_ANNOTATIONS)):
        if len(values) > most:
            raise InvalidValue(f"alerts.{n}: {len(values)} {what} with the common ones; at most {most}",
                               errors=[{"location": ["body", "alerts", str(n), what],
                                        "message": f"at most {most} {what}, common ones included"}])


def alert_bytes(alert: AlertReceived) -> int:
    """The size of an alert's text in UTF-8, as Kafka will carry it give or take JSON's quoting.

    Cheap: one join (a copy) and str.isascii(), a flag lookup in CPython; only non-ASCII text is
    encoded to count, which also finds lone surrogates no UTF-8 record can carry (UnicodeEncodeError).
    """
    labels, annotations = alert.labels, alert.annotations
    text = "".join((*labels, *labels.values(), *annotations, *annotations.values(), alert.dedup_key, alert.summary,
                    alert.description, alert.source, alert.group_key or "", alert.generator_url or ""))
    return len(text) if text.isascii() else len(text.encode())


def check_sizes(alerts: Sequence[AlertReceived], limits: SizeLimits) -> None:
    """Refuses the whole request (TooLarge) when one alert or all together are over budget."""
    total = 0
    for n, alert in enumerate(alerts):
        try:
            size = alert_bytes(alert)
        except UnicodeEncodeError:
            raise InvalidValue(f"alert {n} holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text",
                               alert=n) from None
        if size > limits.alert_bytes:
            raise TooLarge(f"alert {n} is {size} bytes of text once normalised; at most {limits.alert_bytes}",
                           alert=n, size=size, limit=limits.alert_bytes)
        total += size
        if total > limits.batch_bytes:
            raise TooLarge(f"the alerts are over {limits.batch_bytes} bytes of text once normalised (common labels "
                           f"and annotations count in every alert): send fewer alerts per request",
                           limit=limits.batch_bytes)
