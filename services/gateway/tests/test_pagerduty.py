"""Normalizing PagerDuty Events API v2 events, with no broker and no database."""

import json
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from itsm_gateway.domain import IntegrationPolicy, PagerDutyEvent, apply_policy, from_pagerduty

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EVENT = TypeAdapter(PagerDutyEvent)


def trigger(**overrides) -> dict:
    """Shaped as PagerDuty's own example (a disk alert from a monitoring client)."""
    body = {
        "routing_key": "k3v9q1z8m2x7c4b6n5a0s1d2f3g4h5j6",
        "event_action": "trigger",
        "dedup_key": "srv01/mysql",
        "payload": {
            "summary": "DISK at 99% on machine prod-datapipe03.example.com",
            "timestamp": "2026-11-25T11:42:58.315+0000",
            "severity": "critical",
            "source": "prod-datapipe03.example.com",
            "component": "mysql",
            "group": "prod-datapipe",
            "class": "disk",
            "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75},
        },
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
        "links": [{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
        "images": [{"src": "https://charts.example.com/disk.png", "alt": "disk usage"}],
    }
    return body | overrides


def normalize(body: dict, generated: str = "generated-key"):
    return from_pagerduty(EVENT.validate_python(body), "int-pd", NOW, generated_dedup_key=generated)


def test_a_trigger_becomes_a_firing_alert():
    alert = normalize(trigger())
    assert alert.integration_kind == "pagerduty" and alert.integration_id == "int-pd"
    assert alert.dedup_key == "srv01/mysql" and alert.status == "firing" and alert.severity == "critical"
    assert alert.summary == "DISK at 99% on machine prod-datapipe03.example.com"
    assert alert.source == "prod-datapipe03.example.com"
    assert alert.starts_at == datetime(2026, 11, 25, 11, 42, 58, 315000, tzinfo=UTC)
    assert alert.generator_url == "https://monitoring.example.com"


def test_payload_fields_become_labels_and_details_annotations():
    alert = normalize(trigger())
    assert alert.labels == {"source": "prod-datapipe03.example.com", "component": "mysql", "group": "prod-datapipe",
                            "class": "disk"}
    assert alert.annotations["free space"] == "1%" and alert.annotations["load avg"] == "0.75"
    assert alert.annotations["client"] == "Sample Monitoring Service"
    assert "runbooks.example.com/disk" in alert.annotations["links"]
    assert "charts.example.com/disk.png" in alert.annotations["images"]


def test_a_trigger_without_dedup_key_takes_the_generated_one():
    assert normalize(trigger(dedup_key=None), generated="abc123").dedup_key == "abc123"
    body = trigger()
    del body["dedup_key"]
    assert normalize(body, generated="abc124").dedup_key == "abc124"


@pytest.mark.parametrize(("action", "status"), [("acknowledge", "acknowledged"), ("resolve", "resolved")])
def test_acknowledge_and_resolve_name_the_alert_by_dedup_key_alone(action, status):
    alert = normalize({"routing_key": "k" * 32, "event_action": action, "dedup_key": "srv01/mysql"})
    assert alert.status == status and alert.dedup_key == "srv01/mysql"
    assert alert.summary == f"{action} of srv01/mysql" and alert.labels == {}


def test_payload_of_an_acknowledge_is_not_checked_as_pagerduty_ignores_it():
    alert = normalize({"routing_key": "k" * 32, "event_action": "resolve", "dedup_key": "x", "payload": {"a": 1}})
    assert alert.status == "resolved"


@pytest.mark.parametrize("severity", ["critical", "error", "warning", "info"])
def test_the_four_severities_carry_over(severity):
    assert normalize(trigger(payload=trigger()["payload"] | {"severity": severity})).severity == severity


def test_a_summary_over_pagerdutys_limit_is_an_invalid_event_as_at_pagerduty():
    assert len(normalize(trigger(payload=trigger()["payload"] | {"summary": "x" * 1024})).summary) == 1024
    with pytest.raises(ValidationError) as refused:
        normalize(trigger(payload=trigger()["payload"] | {"summary": "x" * 1025}))
    [error] = refused.value.errors()
    assert error["loc"][-2:] == ("payload", "summary") and "1024" in error["msg"]


def test_details_with_more_names_than_annotations_may_have_are_kept_whole_as_one():
    many = {f"metric{n}": n for n in range(200)}
    alert = normalize(trigger(payload=trigger()["payload"] | {"custom_details": many}))
    assert json.loads(alert.annotations["details"]) == many and "metric0" not in alert.annotations
    long_name = {"x" * 300: "v"}
    assert json.loads(normalize(trigger(payload=trigger()["payload"] | {"custom_details": long_name}))
                      .annotations["details"]) == long_name


def test_string_details_are_kept_whole():
    alert = normalize(trigger(payload=trigger()["payload"] | {"custom_details": "disk /var at 99%"}))
    assert alert.annotations["details"] == "disk /var at 99%"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"routing_key": "k" * 32, "event_action": "acknowledge"}, "dedup_key"),
        ({"routing_key": "k" * 32, "event_action": "resolve", "dedup_key": ""}, "dedup_key"),
        (trigger(payload=None), "payload"),
        (trigger(payload={"summary": "s", "source": "h"}), "severity"),
        (trigger(payload=trigger()["payload"] | {"severity": "high"}), "severity"),
        (trigger(payload=trigger()["payload"] | {"summary": ""}), "summary"),
        (trigger(payload=trigger()["payload"] | {"timestamp": "yesterday"}), "timestamp"),
        (trigger(event_action="escalate"), "event_action"),
        (trigger(routing_key=None), "routing_key"),
        (trigger(dedup_key="x" * 256), "dedup_key"),
        ({k: v for k, v in trigger().items() if k != "event_action"}, "event_action"),
    ],
)
def test_events_pagerduty_refuses_are_refused(body, where):
    with pytest.raises(ValidationError) as refused:
        EVENT.validate_python(body)
    locations = [".".join(str(p) for p in e["loc"]) for e in refused.value.errors()]
    assert any(where in loc for loc in locations) or where in str(refused.value), locations


def test_the_senders_dedup_key_survives_the_policy():
    [alert] = apply_policy([normalize(trigger())], IntegrationPolicy(routing_rules=[
        {"name": "db", "match": {"component": "mysql"}, "set": {"affected_ci": "{source}", "category": "{class}"}}]))
    assert alert.dedup_key == "srv01/mysql"
    assert alert.routing.rule == "db" and alert.routing.affected_ci == "prod-datapipe03.example.com"
    assert alert.routing.category == "disk"
