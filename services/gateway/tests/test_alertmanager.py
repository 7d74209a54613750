"""Normalizing Prometheus Alertmanager webhooks (version 4), with no broker and no database."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from itsm_gateway.domain import AlertmanagerWebhook, from_alertmanager, labels_fingerprint, severity_of

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def webhook(**overrides) -> AlertmanagerWebhook:
    body = {
        "version": "4", "groupKey": '{}:{alertname="DiskFull"}', "status": "firing", "receiver": "itsm",
        "commonLabels": {"job": "node", "severity": "warning"}, "commonAnnotations": {"runbook": "https://rb/disk"},
        "alerts": [{
            "status": "firing", "labels": {"alertname": "DiskFull", "instance": "db-1"},
            "annotations": {"summary": "Disk 95% full on db-1"}, "startsAt": "2026-11-25T11:58:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "a1b2c3",
        }],
    }
    body.update(overrides)
    return AlertmanagerWebhook.model_validate(body)


def test_alertmanager_alert_becomes_one_normalized_alert():
    [alert] = from_alertmanager(webhook(), "int-1", NOW)
    assert alert.dedup_key == "a1b2c3"
    assert alert.status == "firing" and alert.severity == "warning"
    assert alert.summary == "Disk 95% full on db-1" and alert.source == "db-1"
    assert alert.labels == {"job": "node", "severity": "warning", "alertname": "DiskFull", "instance": "db-1"}
    assert alert.annotations["runbook"] == "https://rb/disk"
    assert alert.starts_at == datetime(2026, 11, 25, 11, 58, tzinfo=UTC)
    assert alert.ends_at is None  # Alertmanager's zero time means "still firing"
    assert alert.group_key == '{}:{alertname="DiskFull"}' and alert.received_at == NOW


def test_alert_labels_win_over_common_labels():
    body = webhook()
    body.alerts[0].labels["severity"] = "critical"
    [alert] = from_alertmanager(body, "int-1", NOW)
    assert alert.severity == "critical"


def test_without_a_fingerprint_the_label_set_identifies_the_alert():
    first = webhook()
    first.alerts[0].fingerprint = None
    [a] = from_alertmanager(first, "int-1", NOW)
    [b] = from_alertmanager(first, "int-1", NOW)
    assert a.dedup_key == b.dedup_key == labels_fingerprint(a.labels)
    assert labels_fingerprint({"a": "1", "b": "2"}) == labels_fingerprint({"b": "2", "a": "1"})
    assert labels_fingerprint({"a": "1"}) != labels_fingerprint({"a": "2"})


def test_summary_falls_back_to_alertname_and_instance():
    body = webhook()
    body.alerts[0].annotations.clear()
    [alert] = from_alertmanager(body, "int-1", NOW)
    assert alert.summary == "DiskFull on db-1"


@pytest.mark.parametrize(
    ("label", "severity"),
    [("critical", "critical"), ("PAGE", "critical"), ("high", "error"), ("error", "error"), ("warning", "warning"),
     ("info", "info"), ("low", "info"), ("", "warning"), (None, "warning"), ("bogus", "warning")],
)
def test_severity_labels_map_onto_four_levels(label, severity):
    assert severity_of(label) == severity


@pytest.mark.parametrize(
    "change",
    [{"version": "3"}, {"alerts": []}, {"status": "flapping"}],
)
def test_payloads_that_are_not_alertmanager_v4_are_refused(change):
    with pytest.raises(ValidationError):
        webhook(**change)
