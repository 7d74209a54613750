"""Normalizing Prometheus Alertmanager webhooks (version 4), with no broker and no database."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from itsm_gateway.domain import (
    AlertmanagerWebhook, IntegrationPolicy, alertmanager_fingerprint, apply_policy, from_alertmanager, severity_of,
)
from itsm_gateway.domain.common import MAX_LABEL_VALUE, MAX_LABELS

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


# --- an alert without fingerprint (Alertmanager before 0.19) gets Alertmanager's own ---------

FNV1A_64_OFFSET, FNV1A_64_PRIME = 0xCBF29CE484222325, 0x100000001B3


def fnv1a_64(data: bytes) -> int:
    """FNV-1a 64 as its definition reads: for each byte, xor it in, then multiply by the prime (mod 2^64)."""
    h = FNV1A_64_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV1A_64_PRIME) % 2**64
    return h


def test_the_reference_fnv1a_64_gives_the_published_test_vectors():
    assert [f"{fnv1a_64(data):016x}" for data in (b"", b"a", b"foobar")] == [
        "cbf29ce484222325", "af63dc4c8601ec8c", "85944171f73967e8"]


@pytest.mark.parametrize("labels", [
    {},
    {"a": "b"},
    {"alertname": "DiskFull", "instance": "db-1", "job": "node", "severity": "warning"},
    {"zone": "eu", "Zone": "us", "_z": "", "é": "ü", "名前": "値"},  # bytewise name order, UTF-8 bytes
])
def test_the_fingerprint_is_fnv1a_64_over_sorted_names_and_values_each_ended_by_0xff(labels):
    # Prometheus' labelSetToFingerprint: name, 0xff, value, 0xff for each label in name order.
    data = b"".join(name.encode() + b"\xff" + labels[name].encode() + b"\xff"
                    for name in sorted(labels, key=str.encode))
    assert alertmanager_fingerprint(labels) == f"{fnv1a_64(data):016x}"


@pytest.mark.parametrize(("labels", "fingerprint"), [
    # prometheus/common model/signature_test.go (its values are uint64; Alertmanager prints them %016x)
    ({}, 14695981039346656037),
    ({"name": "garland, briggs", "fear": "love is not enough"}, 5799056148416392346),
    ({"first-label": "first-label-value"}, 5146282821936882169),
    ({"first-label": "first-label-value", "second-label": "second-label-value"}, 3195800080984914717),
    ({"first-label": "first-label-value", "second-label": "second-label-value",
      "third-label": "third-label-value"}, 13843036195897128121),
])
def test_the_fingerprint_is_prometheus_own(labels, fingerprint):
    assert alertmanager_fingerprint(labels) == f"{fingerprint:016x}"
    assert len(alertmanager_fingerprint(labels)) == 16


def test_without_a_fingerprint_an_alert_is_keyed_as_an_upgraded_alertmanager_will_send_it():
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    old = webhook(commonLabels={}, commonAnnotations={})
    old.alerts[0].labels, old.alerts[0].fingerprint = dict(labels), None
    [firing] = from_alertmanager(old, "int-1", NOW)
    assert firing.dedup_key == "507a62d79ee76c9a"  # 5799056148416392346, as Alertmanager 0.19+ sends it
    new = webhook(status="resolved", commonLabels={}, commonAnnotations={})
    new.alerts[0].labels, new.alerts[0].fingerprint, new.alerts[0].status = dict(labels), "507a62d79ee76c9a", "resolved"
    [resolved] = from_alertmanager(new, "int-1", NOW)
    assert resolved.dedup_key == firing.dedup_key
    assert apply_policy([firing], IntegrationPolicy())[0].dedup_key == firing.dedup_key


# --- identities and labels are bounded ----------------------------------------------------

def test_a_fingerprint_over_255_characters_is_hashed_to_one_stable_key():
    body = webhook()
    body.alerts[0].fingerprint = "f" * 300
    [a] = from_alertmanager(body, "int-1", NOW)
    [b] = from_alertmanager(body, "int-1", NOW)
    assert a.dedup_key == b.dedup_key and len(a.dedup_key) == 64
    body.alerts[0].fingerprint = "f" * 255
    assert from_alertmanager(body, "int-1", NOW)[0].dedup_key == "f" * 255


def test_a_long_group_key_is_hashed_once_and_fits_the_namespaced_group():
    group = "{}:{" + ",".join(f'l{n}="{"v" * 40}"' for n in range(40)) + "}"
    [alert] = from_alertmanager(webhook(groupKey=group), "int-1", NOW)
    assert len(alert.group_key) == 64
    [applied] = apply_policy([alert], IntegrationPolicy(storm_window_seconds=60))
    assert applied.group_key == f"int-1:{alert.group_key}" and len(applied.group_key) <= 512


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"labels": {f"l{n}": "v" for n in range(MAX_LABELS + 1)}}, "labels"),
        ({"labels": {"alertname": "x" * (MAX_LABEL_VALUE + 1)}}, "alertname"),
        ({"labels": {"a" * 257: "x"}}, "labels"),
        ({"annotations": {f"a{n}": "v" for n in range(129)}}, "annotations"),
        ({"annotations": {"description": "x" * 65_537}}, "description"),
    ],
)
def test_labels_and_annotations_over_their_bounds_are_refused(change, where):
    body = webhook().model_dump()
    body["alerts"][0] |= change
    with pytest.raises(ValidationError) as refused:
        AlertmanagerWebhook.model_validate(body)
    assert any(where in ".".join(map(str, e["loc"])) for e in refused.value.errors()), refused.value.errors()


def test_common_labels_count_in_every_alert():
    from itsm_kit.domain import InvalidValue

    body = webhook(commonLabels={f"c{n}": "v" for n in range(40)})
    body.alerts[0].labels = {f"l{n}": "v" for n in range(40)}
    with pytest.raises(InvalidValue, match="80 labels"):
        from_alertmanager(body, "int-1", NOW)


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
