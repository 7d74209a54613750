"""Bounded intake: what one alert and one request may weigh once normalised, with no broker and no database."""

from datetime import UTC, datetime

import pytest

from itsm_contracts.events.alerts import AlertReceived
from itsm_kit.domain import InvalidValue
from itsm_kit.errors import Problem
from itsm_gateway import handlers
from itsm_gateway.domain import AlertmanagerWebhook, SizeLimits, TooLarge, check_sizes, from_alertmanager
from itsm_gateway.domain.common import alert_bytes

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIMITS = SizeLimits(alert_bytes=512 * 1024, batch_bytes=8 * 1024 * 1024)


def alert(**fields) -> AlertReceived:
    values = {"integration_id": "int-1", "integration_kind": "generic", "dedup_key": "k", "status": "firing",
              "severity": "warning", "summary": "s", "received_at": NOW}
    return AlertReceived(**values | fields)


def test_an_alerts_size_is_its_text_in_utf8_bytes():
    assert alert_bytes(alert(labels={"ab": "cd"}, annotations={"e": "fgh"}, source="ij")) == 1 + 1 + 4 + 4 + 2
    assert alert_bytes(alert(summary="é" * 10, dedup_key="")) == 20


def test_one_alert_over_its_budget_refuses_the_request_naming_it():
    fine = alert(annotations={"description": "x" * 1000})
    heavy = alert(annotations={f"a{n}": "x" * 60_000 for n in range(9)})
    check_sizes([fine], LIMITS)
    with pytest.raises(TooLarge) as refused:
        check_sizes([fine, heavy], LIMITS)
    assert refused.value.details["alert"] == 1 and refused.value.details["limit"] == 512 * 1024


def test_common_annotations_count_in_every_alert_so_a_small_body_cannot_expand_without_bound():
    # ~300 KB posted; copied into 100 alerts it would be 30 MB on Kafka.
    body = AlertmanagerWebhook.model_validate({
        "version": "4", "status": "firing", "commonAnnotations": {f"note{n}": "x" * 60_000 for n in range(5)},
        "alerts": [{"status": "firing", "labels": {"alertname": "A", "n": str(n)}} for n in range(100)]})
    alerts = from_alertmanager(body, "int-1", NOW)
    check_sizes(alerts[:20], LIMITS)
    with pytest.raises(TooLarge, match="send fewer alerts per request") as refused:
        check_sizes(alerts, LIMITS)
    assert "alert" not in refused.value.details


def test_text_no_utf8_record_can_carry_is_refused_not_sent():
    with pytest.raises(InvalidValue, match="alert 0 holds a lone surrogate"):
        check_sizes([alert(labels={"host": "db-\ud800"})], LIMITS)


class RecordingProducer:
    def __init__(self):
        self.sent = []

    async def send(self, topic, value, key):
        self.sent.append(key)
        raise AssertionError("nothing may be sent")


async def test_a_batch_holding_an_event_kafka_would_refuse_is_refused_before_anything_is_sent():
    # Text within budget can still serialize larger (JSON escapes each '"'): the records are checked first.
    quoted = alert(dedup_key="big", annotations={f"q{n}": '"' * 60_000 for n in range(9)})
    producer = RecordingProducer()
    with pytest.raises(Problem) as refused:
        await handlers.publish_alerts(producer, [alert(dedup_key="small"), quoted], "itsm/gateway", timeout=1)
    assert refused.value.status == 413 and refused.value.extra["alert"] == 1
    assert producer.sent == []
