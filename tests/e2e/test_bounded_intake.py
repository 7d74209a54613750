"""Bounded webhook intake (issue 12, items 2, 3 and 14): what a sender may post, and what happens to it.

- identities: an over-long fingerprint or group key still opens (and resolves) its incident;
- sizes: labels and annotations over their bounds are 422, alerts over their budget (one, or a
  whole request once common labels are copied into each) 413, with nothing written to Kafka;
- admins' regular expressions run in linear time: a catastrophic pattern does not freeze the gateway;
- PagerDuty's summary limit, and Alertmanager's own fingerprint for alerts sent without one.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.alerts import alert, alertmanager_batch, fingerprints, generic_alert, pagerduty_event
from tests.helpers import database_scalar, eventually

pytestmark = pytest.mark.e2e

ALERTMANAGER = "/api/v1/integrations/alertmanager"
GENERIC = "/api/v1/integrations/generic"
PAGERDUTY = "/v2/enqueue"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


async def key_of(gateway, kind: str, **policy) -> str:
    response = await gateway.post("/api/v1/integrations", json={"name": f"bounded-{kind}", "kind": kind, **policy})
    assert response.status_code == 201, response.text
    return response.json()["key"]


async def incident_state(gateway, dedup_key: str) -> str:
    page = (await gateway.get("/api/v1/incidents", params={"dedup_key": dedup_key})).json()
    assert len(page["items"]) == 1, page
    return page["items"][0]["state"]


# --- identities: hashed to fit, never dead-lettered ----------------------------------------

async def test_a_300_character_fingerprint_opens_its_incident_and_its_resolution_resolves_it(gateway):
    key = await key_of(gateway, "alertmanager")
    fingerprint = fingerprints(1)[0] * 19  # 304 characters: over the incidents service's 255
    posted = []
    for status in ("firing", "resolved"):
        response = await gateway.post(ALERTMANAGER, json=alertmanager_batch([alert(fingerprint, status=status)]),
                                      headers={"x-integration-key": key})
        assert response.status_code == 202, response.text
        posted += response.json()["dedup_keys"]
    assert posted[0] == posted[1] and len(posted[0]) == 64  # hashed: one stable key that fits

    async def resolved():
        assert await incident_state(gateway, posted[0]) == "resolved"

    await eventually(resolved)


async def test_a_long_group_key_under_storm_control_still_opens_an_incident(gateway):
    key = await key_of(gateway, "alertmanager", storm_window_seconds=300)
    [fingerprint] = fingerprints(1)
    group = "{}/{severity=~\"critical\"}:{" + ",".join(f'label{n}="{uuid.uuid4().hex}"' for n in range(15)) + "}"
    body = alertmanager_batch([alert(fingerprint)], group_key=group)  # ~700 characters, grouped by Alertmanager
    response = await gateway.post(ALERTMANAGER, json=body, headers={"x-integration-key": key})
    assert response.status_code == 202, response.text

    async def opened():
        assert await incident_state(gateway, fingerprint) == "new"

    await eventually(opened)


# --- sizes: refused whole, before anything is written --------------------------------------

def labelled(fingerprint: str, **labels: str) -> dict:
    body = alert(fingerprint)
    body["labels"] |= labels
    return body


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"labels": {f"label{n}": "v" for n in range(65)}}, "labels"),
        ({"labels": {"instance": "x" * 2049}}, "instance"),
        ({"labels": {"x" * 257: "v"}}, "labels"),
        ({"annotations": {f"note{n}": "v" for n in range(129)}}, "annotations"),
        ({"annotations": {"description": "x" * 65_537}}, "description"),
    ],
)
async def test_labels_and_annotations_over_their_bounds_are_422_naming_them(gateway, nothing_written, change, where):
    key = await key_of(gateway, "alertmanager")
    fine, bad = fingerprints(2)
    body = alertmanager_batch([alert(fine), alert(bad) | change])
    problem = assert_problem(await gateway.post(ALERTMANAGER, json=body, headers={"x-integration-key": key}), 422)
    assert any(where in ".".join(error["location"]) for error in problem["errors"]), problem["errors"]
    generic = {"alerts": [generic_alert("fine"), generic_alert("bad") | change]}
    problem = assert_problem(await gateway.post(GENERIC, json=generic,
                                                headers={"x-integration-key": await key_of(gateway, "generic")}), 422)
    assert any(where in ".".join(error["location"]) for error in problem["errors"]), problem["errors"]


async def test_common_labels_count_in_every_alert(gateway, nothing_written):
    body = alertmanager_batch([labelled(fingerprints(1)[0], **{f"own{n}": "v" for n in range(40)})])
    body["commonLabels"] = {f"common{n}": "v" for n in range(40)}
    problem = assert_problem(await gateway.post(ALERTMANAGER, json=body, headers={
        "x-integration-key": await key_of(gateway, "alertmanager")}), 422)
    assert "labels with the common ones; at most 64" in problem["detail"]


async def test_one_alert_over_its_budget_refuses_the_whole_request_with_413(gateway, nothing_written):
    fine, heavy = fingerprints(2)
    notes = {f"note{n}": "x" * 60_000 for n in range(9)}  # 540 KB posted, over an alert's 512 KiB
    body = alertmanager_batch([alert(fine), alert(heavy) | {"annotations": notes}])
    problem = assert_problem(await gateway.post(ALERTMANAGER, json=body, headers={
        "x-integration-key": await key_of(gateway, "alertmanager")}), 413)
    assert problem["alert"] == 1 and problem["limit"] == 512 * 1024 and "alert 1" in problem["detail"]


async def test_a_small_body_that_common_annotations_would_expand_past_the_budget_is_413(gateway, nothing_written):
    # ~330 KB posted; with the common annotations in each of 200 alerts, 60 MB would go to Kafka.
    body = alertmanager_batch([alert(fp) for fp in fingerprints(200)])
    body["commonAnnotations"] = {f"note{n}": "x" * 60_000 for n in range(5)}
    started = time.perf_counter()
    problem = assert_problem(await gateway.post(ALERTMANAGER, json=body, headers={
        "x-integration-key": await key_of(gateway, "alertmanager")}), 413)
    assert "send fewer alerts per request" in problem["detail"] and problem["limit"] == 8 * 1024 * 1024
    assert time.perf_counter() - started < 5


# --- PagerDuty: its own limits, its own answers --------------------------------------------

def assert_invalid_event(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    return body["errors"]


async def test_a_pagerduty_summary_over_1024_characters_is_an_invalid_event(gateway, nothing_written):
    key = await key_of(gateway, "pagerduty")
    event = pagerduty_event(key, dedup_key=f"summary-{uuid.uuid4().hex[:8]}")
    event["payload"]["summary"] = "x" * 1025
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as sender:
        errors = assert_invalid_event(await sender.post(PAGERDUTY, json=event))
    assert any(e.startswith("'payload.summary'") and "1024" in e for e in errors), errors


async def test_a_pagerduty_event_over_pagerdutys_512_kb_is_an_invalid_event(gateway, nothing_written):
    key = await key_of(gateway, "pagerduty")
    event = pagerduty_event(key, dedup_key=f"big-{uuid.uuid4().hex[:8]}")
    event["payload"]["custom_details"] = {f"log{n}": "x" * 60_000 for n in range(9)}
    async with httpx.AsyncClient(base_url=str(gateway.base_url)) as sender:
        errors = assert_invalid_event(await sender.post(PAGERDUTY, json=event))
    assert any("at most 524288" in e for e in errors), errors


# --- Alertmanager before 0.19: no fingerprint, keyed by Alertmanager's own ----------------

FNV1A_64_OFFSET, FNV1A_64_PRIME = 0xCBF29CE484222325, 0x100000001B3


def alertmanager_fingerprint(labels: dict[str, str]) -> str:
    """What Alertmanager 0.19+ sends: FNV-1a 64 over name, 0xff, value, 0xff of each label in name order."""
    h = FNV1A_64_OFFSET
    for byte in b"".join(n.encode() + b"\xff" + labels[n].encode() + b"\xff" for n in sorted(labels)):
        h = ((h ^ byte) * FNV1A_64_PRIME) % 2**64
    return f"{h:016x}"


async def test_an_alert_an_old_alertmanager_opened_is_resolved_by_an_upgraded_one(gateway, integration_key):
    firing = alert("unused", instance=f"web-{uuid.uuid4().hex[:8]}")
    del firing["fingerprint"]  # as Alertmanager sent it before 0.19
    expected = alertmanager_fingerprint(firing["labels"])
    headers = {"x-integration-key": integration_key}
    response = await gateway.post(ALERTMANAGER, json=alertmanager_batch([firing]), headers=headers)
    assert response.status_code == 202 and response.json()["dedup_keys"] == [expected]

    async def opened():
        assert await incident_state(gateway, expected) == "new"

    await eventually(opened)
    # The upgraded Alertmanager names the same alert by its fingerprint when it resolves.
    resolved = alert(expected, status="resolved", instance=firing["labels"]["instance"])
    assert (await gateway.post(ALERTMANAGER, json=alertmanager_batch([resolved]), headers=headers)).status_code == 202

    async def resolved_():
        assert await incident_state(gateway, expected) == "resolved"

    await eventually(resolved_)


# --- admins' regular expressions: linear time ----------------------------------------------

async def test_a_catastrophic_routing_pattern_does_not_freeze_the_gateway(gateway):
    # Python's re needs seconds for (a+)+b against 25 "a"s, twice that for each more: with it, this post
    # (a label value of 2,048 "a"s) would hold the event loop, health probes included, practically forever.
    key = await key_of(gateway, "alertmanager", routing_rules=[
        {"name": "evil", "match_re": {"instance": "(a+)+b"}, "set": {"category": "x"}}])
    body = alertmanager_batch([alert(fp, instance="a" * 2048) for fp in fingerprints(20)])
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=str(gateway.base_url), timeout=10) as sender:
        response = await sender.post(ALERTMANAGER, json=body, headers={"x-integration-key": key})
        assert response.status_code == 202, response.text
        assert (await sender.get("/healthz")).status_code == 200
    assert time.perf_counter() - started < 2


async def test_a_pattern_re2_cannot_run_in_linear_time_is_refused_when_written(gateway):
    response = await gateway.post("/api/v1/integrations", json={"name": "lookahead", "kind": "alertmanager",
                                                                 "routing_rules": [{"name": "r", "match_re": {
                                                                     "instance": r"(?=web)\w+-(\d)\1"},
                                                                     "set": {"category": "x"}}]})
    problem = assert_problem(response, 422)
    assert "RE2" in problem["detail"]


async def test_a_pattern_stored_before_re2_matches_nothing_and_the_admin_can_still_read_and_rewrite_it(gateway):
    created = await gateway.post("/api/v1/integrations", json={"name": "stored-before-re2", "kind": "alertmanager",
                                                                "routing_rules": [{"name": "web", "match_re": {
                                                                    "instance": "web-.*"}, "set": {"category": "x"}}]})
    integration, key = created.json(), created.json()["key"]
    # As an older gateway (Python's re) may have stored it: a look-ahead RE2 has not.
    await database_scalar("gateway", "UPDATE integrations SET policy = jsonb_set(policy, "
                          "'{routing_rules,0,match_re,instance}', to_jsonb($1::text)), version = version + 1 "
                          "WHERE id = $2 RETURNING version", "(?=web)web-.*", integration["id"])
    url = f"/api/v1/integrations/{integration['id']}"

    async def shown():  # once the key cache let the stored row through
        response = await gateway.get(url)
        assert response.status_code == 200, response.text
        assert response.json()["routing_rules"][0]["match_re"] == {"instance": "(?=web)web-.*"}

    await eventually(shown)
    [fingerprint] = fingerprints(1)
    response = await gateway.post(ALERTMANAGER, json=alertmanager_batch([alert(fingerprint, instance="web-1")]),
                                  headers={"x-integration-key": key})
    assert response.status_code == 202, response.text  # the webhook keeps working; the rule matches nothing
    refused = await gateway.patch(url, json={"resolve_incident": False})
    assert "RE2" in assert_problem(refused, 422)["detail"]
    rewritten = await gateway.patch(url, json={"routing_rules": [
        {"name": "web", "match_re": {"instance": "web-.*"}, "set": {"category": "x"}}]})
    assert rewritten.status_code == 200, rewritten.text
