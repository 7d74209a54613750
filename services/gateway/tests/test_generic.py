"""Normalizing the generic JSON alert, one or a batch, with no broker and no database."""

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from itsm_gateway.domain import GenericBatch, GenericBody, IntegrationPolicy, apply_policy, from_generic

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BODY = TypeAdapter(GenericBody)


def generic(**overrides) -> dict:
    """What a cron job's health check might post."""
    body = {
        "dedup_key": "backup/db-1", "status": "firing", "severity": "critical",
        "summary": "Nightly backup of db-1 failed", "description": "pg_dump exited 1: disk full",
        "source": "backup-runner-2", "labels": {"job": "backup", "host": "db-1", "service": "billing"},
        "annotations": {"runbook": "https://rb/backup"}, "occurred_at": "2026-11-25T02:00:05Z",
        "url": "https://cron.example/jobs/backup/runs/881",
    }
    return body | overrides


def normalize(body) -> list:
    return from_generic(BODY.validate_python(body), "int-gen", NOW)


def test_a_generic_alert_becomes_a_normalized_alert():
    [alert] = normalize(generic())
    assert alert.integration_kind == "generic" and alert.integration_id == "int-gen"
    assert alert.dedup_key == "backup/db-1" and alert.status == "firing" and alert.severity == "critical"
    assert alert.summary == "Nightly backup of db-1 failed" and alert.description == "pg_dump exited 1: disk full"
    assert alert.source == "backup-runner-2" and alert.labels["host"] == "db-1"
    assert alert.annotations == {"runbook": "https://rb/backup"}
    assert alert.starts_at == datetime(2026, 11, 25, 2, 0, 5, tzinfo=UTC)
    assert alert.generator_url == "https://cron.example/jobs/backup/runs/881"


def test_only_the_summary_is_required():
    [alert] = normalize({"summary": "Something is off"})
    assert alert.status == "firing" and alert.severity == "warning" and alert.labels == {}


def test_a_batch_is_many_alerts_in_order():
    body = {"alerts": [generic(dedup_key=f"k{n}") for n in range(3)] + [generic(dedup_key="k0", status="resolved")]}
    alerts = normalize(body)
    assert [(a.dedup_key, a.status) for a in alerts] == [("k0", "firing"), ("k1", "firing"), ("k2", "firing"),
                                                         ("k0", "resolved")]
    assert isinstance(BODY.validate_python(body), GenericBatch)


@pytest.mark.parametrize(("word", "severity"), [("CRITICAL", "critical"), ("high", "error"), ("warn", "warning"),
                                                ("informational", "info"), ("p1", "critical")])
def test_common_severity_words_are_understood(word, severity):
    assert normalize(generic(severity=word))[0].severity == severity


def test_acknowledged_is_a_status_of_its_own():
    assert normalize(generic(status="acknowledged"))[0].status == "acknowledged"


def test_without_dedup_key_labels_and_source_identify_the_alert_across_firing_and_resolved():
    firing = normalize(generic(dedup_key=None, summary="backup failed at 02:00"))[0]
    resolved = normalize(generic(dedup_key=None, status="resolved", severity="info", summary="backup ok"))[0]
    elsewhere = normalize(generic(dedup_key=None, source="backup-runner-3"))[0]
    other_host = normalize(generic(dedup_key=None, labels={"job": "backup", "host": "db-2"}))[0]
    assert firing.dedup_key == resolved.dedup_key
    assert len({firing.dedup_key, elsewhere.dedup_key, other_host.dedup_key}) == 3


def test_with_nothing_else_to_go_by_the_summary_identifies_the_alert():
    a, b, c = (normalize({"summary": s})[0].dedup_key for s in ("disk full", "disk full", "cpu hot"))
    assert a == b != c


def test_a_configured_dedup_template_wins_over_the_senders_key():
    [alert] = apply_policy(normalize(generic()), IntegrationPolicy(dedup_key_template="{job}:{host}"))
    assert alert.dedup_key == "backup:db-1"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "summary"),
        (generic(summary=""), "summary"),
        (generic(status="open"), "status"),
        (generic(severity="catastrophic"), "severity"),
        (generic(dedupkey="typo"), "dedupkey"),
        (generic(labels={"port": 5432}), "labels"),
        (generic(occurred_at="2026-11-25T02:00:05"), "occurred_at"),  # a time without zone is ambiguous
        (generic(dedup_key="x" * 256), "dedup_key"),
        ({"alerts": []}, "alerts"),
        ({"alerts": [generic(), {"severity": "info"}]}, "summary"),
        ({"alerts": [generic()], "source": "x"}, "source"),
        ([generic()], ""),
    ],
)
def test_invalid_alerts_are_refused_naming_the_field(body, where):
    with pytest.raises(ValidationError) as refused:
        BODY.validate_python(body)
    assert any(where in ".".join(str(p) for p in e["loc"]) for e in refused.value.errors()), refused.value.errors()


def test_errors_name_only_the_shape_that_was_sent():
    with pytest.raises(ValidationError) as refused:
        BODY.validate_python({"alerts": [{"summary": "ok", "severity": "bogus"}]})
    assert [e["loc"] for e in refused.value.errors()] == [("batch", "alerts", 0, "severity")]
