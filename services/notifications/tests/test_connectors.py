"""Connectors' rules (issue 16): what an incident event asks of PagerDuty, the echo rule, the severity map, the
Events API and Jira bodies, the inbound webhooks' signatures and what they say, and the link that publishes it."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from itsm_contracts.events.external import (
    ExternalRecordAcknowledged, ExternalRecordCommented, ExternalRecordResolved, ExternalRecordStatusChanged,
)
from itsm_notifications.domain.connectors import (
    ExternalLink, dedup_key, echoes, jira_issue, jira_signed, pagerduty_action, pagerduty_event, pagerduty_signed,
    read_jira, read_pagerduty, record_of_label, severity,
)

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
SECRET = "inbound-secret"


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- outbound: action mapping, echo rule, severity ------------------------------------------------------------------

@pytest.mark.parametrize(("event_type", "data", "action"), [
    ("itsm.incident.opened", {}, "trigger"),
    ("itsm.incident.state_changed", {"from_state": "new", "to_state": "in_progress"}, "acknowledge"),
    ("itsm.incident.state_changed", {"from_state": "on_hold", "to_state": "in_progress"}, "acknowledge"),
    ("itsm.incident.state_changed", {"from_state": "in_progress", "to_state": "resolved"}, "resolve"),
    ("itsm.incident.state_changed", {"from_state": "resolved", "to_state": "closed"}, "resolve"),
    ("itsm.incident.state_changed", {"from_state": "new", "to_state": "canceled"}, "resolve"),
    ("itsm.incident.state_changed", {"from_state": "new", "to_state": "on_hold"}, None),
    ("itsm.incident.state_changed", {"from_state": "resolved", "to_state": "in_progress"}, None),  # reopened says it
    ("itsm.incident.reopened", {}, "trigger"),
    ("itsm.incident.resolved", {}, "resolve"),
    ("itsm.incident.work_note_added", {}, None),
])
def test_incident_events_map_to_pagerduty_actions(event_type, data, action):
    assert pagerduty_action(event_type, data) == action


@pytest.mark.parametrize(("action", "link_state", "echo"), [
    ("trigger", None, False),
    ("trigger", "triggered", True),
    ("trigger", "acknowledged", True),
    ("trigger", "resolved", False),  # a reopened incident pages again
    ("acknowledge", None, True),  # PagerDuty never heard of it
    ("acknowledge", "triggered", False),
    ("acknowledge", "acknowledged", True),  # PagerDuty told us so itself
    ("acknowledge", "resolved", True),
    ("resolve", None, True),
    ("resolve", "triggered", False),
    ("resolve", "acknowledged", False),
    ("resolve", "resolved", True),
])
def test_the_echo_rule_sends_only_what_pagerduty_does_not_have(action, link_state, echo):
    assert echoes(action, link_state) is echo


@pytest.mark.parametrize(("priority", "expected"), [(1, "critical"), (2, "error"), (3, "warning"), (4, "info"),
                                                    (5, "info"), (None, "info")])
def test_priority_maps_to_pagerduty_severity(priority, expected):
    assert severity(priority) == expected


def test_a_trigger_carries_payload_and_portal_link_and_the_others_only_the_key():
    record = {"number": "INC0001001", "title": "Checkout down", "priority": 1, "affected_ci": "checkout-api",
              "assignment_group": "payments"}
    trigger = pagerduty_event("trigger", record=record, record_type="incident", record_id="abc",
                              portal_url="http://portal/", source="itsm/incidents")
    assert trigger["dedup_key"] == dedup_key("incident", "abc") == "itsm-incident-abc"
    assert trigger["event_action"] == "trigger" and "routing_key" not in trigger  # the sender adds the secret
    assert trigger["payload"]["summary"] == "[INC0001001] Checkout down"
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["component"] == "checkout-api"
    assert trigger["payload"]["source"] == "itsm/incidents"
    assert trigger["links"] == [{"href": "http://portal/incidents/abc", "text": "INC0001001 in ITSM"}]
    resolve = pagerduty_event("resolve", record=record, record_type="incident", record_id="abc",
                              portal_url="http://portal", source="itsm/incidents")
    assert resolve == {"event_action": "resolve", "dedup_key": "itsm-incident-abc"}


def test_a_jira_issue_names_the_project_number_label_and_portal_link():
    issue = jira_issue(record={"number": "PRB0000007", "title": "Disk fills"}, record_type="problem",
                       record_id="p-1", options={"project": "OPS"}, portal_url="http://portal")
    fields = issue["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "[PRB0000007] Disk fills" and fields["labels"] == ["itsm-p-1"]
    assert "http://portal/problems/p-1" in fields["description"]
    assert record_of_label(("other", "itsm-p-1")) == "p-1"


# -- inbound signatures --------------------------------------------------------------------------------------------

def test_pagerduty_signatures():
    body = b'{"event": {}}'
    assert pagerduty_signed(body, f"v1={sign(body)}", SECRET)
    # While a secret rotates PagerDuty sends several; one match is enough.
    assert pagerduty_signed(body, f"v1={sign(body, 'old')},v1={sign(body)}", SECRET)
    assert not pagerduty_signed(body, f"v1={sign(body, 'wrong secret')}", SECRET)
    assert not pagerduty_signed(body + b" ", f"v1={sign(body)}", SECRET)  # the raw body, byte for byte
    assert not pagerduty_signed(body, sign(body), SECRET)  # no scheme
    assert not pagerduty_signed(body, None, SECRET)
    assert not pagerduty_signed(body, f"v1={sign(body, '')}", None)  # an endpoint without inbound secret


def test_jira_signatures():
    body = b'{"webhookEvent": "comment_created"}'
    assert jira_signed(body, f"sha256={sign(body)}", SECRET)
    assert not jira_signed(body, f"sha256={sign(body, 'wrong secret')}", SECRET)
    assert not jira_signed(body, f"sha1={sign(body)}", SECRET)
    assert not jira_signed(body, None, SECRET)
    assert not jira_signed(body, f"sha256={sign(body)}", None)


# -- inbound content -----------------------------------------------------------------------------------------------

def pagerduty_body(event_type: str, event_id: str = "01DEN0") -> dict:
    return {"event": {"id": event_id, "event_type": event_type, "occurred_at": "2026-12-05T09:01:00Z",
                      "agent": {"summary": "Ada Lovelace", "type": "user_reference"},
                      "data": {"id": "Q1W2E3", "type": "incident", "incident_key": "itsm-incident-abc",
                               "status": "acknowledged", "html_url": "https://acme.pagerduty.com/incidents/Q1W2E3"}}}


def test_pagerduty_acknowledgement_and_resolution_are_read_other_events_are_not():
    heard = read_pagerduty(pagerduty_body("incident.acknowledged"), NOW)
    assert heard.kind == "acknowledged" and heard.state == "acknowledged" and heard.event_id == "01DEN0"
    assert heard.external_key == "itsm-incident-abc" and heard.external_id == "Q1W2E3"
    assert heard.actor == "Ada Lovelace" and heard.at == datetime(2026, 12, 5, 9, 1, tzinfo=UTC)
    assert read_pagerduty(pagerduty_body("incident.resolved"), NOW).state == "resolved"
    assert read_pagerduty(pagerduty_body("incident.triggered"), NOW) is None
    assert read_pagerduty({"nonsense": 1}, NOW) is None


def jira_comment(author: str) -> dict:
    return {"webhookEvent": "comment_created", "timestamp": 1764925200000,
            "comment": {"id": "10100", "body": "Rolled back the deploy",
                        "author": {"emailAddress": author, "displayName": author.split("@")[0]}},
            "issue": {"id": "10001", "key": "OPS-1", "self": "https://acme.atlassian.net/rest/api/2/issue/10001",
                      "fields": {"labels": ["itsm-abc"]}}}


def test_jira_comments_are_read_but_not_the_connectors_own():
    heard = read_jira(jira_comment("grace@example.com"), NOW, delivery_id="d-1", own_user="itsm-bot@example.com")
    assert heard.kind == "commented" and heard.body == "Rolled back the deploy" and heard.external_id == "OPS-1"
    assert heard.url == "https://acme.atlassian.net/browse/OPS-1" and heard.labels == ("itsm-abc",)
    assert read_jira(jira_comment("itsm-bot@example.com"), NOW, delivery_id="d-2",
                     own_user="itsm-bot@example.com") is None


def jira_status(to: str, category: str) -> dict:
    return {"webhookEvent": "jira:issue_updated", "timestamp": 1764925200000, "user": {"displayName": "Grace"},
            "changelog": {"id": "555", "items": [{"field": "status", "fromString": "To Do", "toString": to}]},
            "issue": {"key": "OPS-1", "fields": {"labels": ["itsm-abc"],
                                                 "status": {"name": to, "statusCategory": {"key": category}}}}}


def test_jira_status_changes_resolve_when_done():
    assert read_jira(jira_status("Done", "done"), NOW, delivery_id=None, own_user=None).kind == "resolved"
    moved = read_jira(jira_status("In Review", "indeterminate"), NOW, delivery_id=None, own_user=None)
    assert moved.kind == "status_changed" and moved.state == "In Review" and moved.status_category == "indeterminate"
    other = jira_status("Done", "done")
    other["changelog"]["items"] = [{"field": "assignee", "toString": "Grace"}]
    assert read_jira(other, NOW, delivery_id=None, own_user=None) is None


# -- the link ------------------------------------------------------------------------------------------------------

def link(state: str | None = "triggered", connector: str = "pagerduty") -> ExternalLink:
    return ExternalLink("e-1", "incident", "abc", connector, "itsm-incident-abc", external_state=state)


def test_what_pagerduty_tells_is_published_once_with_the_links_sequence():
    ours = link()
    assert ours.heard(read_pagerduty(pagerduty_body("incident.acknowledged"), NOW))
    [(sequence, event)] = ours.events
    assert sequence == 1 and isinstance(event, ExternalRecordAcknowledged)
    assert event.record_id == "abc" and event.external_id == "Q1W2E3" and event.external_actor == "Ada Lovelace"
    assert ours.external_state == "acknowledged"
    # The same state again (a retried webhook under another id, or our own acknowledgement) publishes nothing.
    assert not ours.heard(read_pagerduty(pagerduty_body("incident.acknowledged", "other"), NOW))
    assert ours.heard(read_pagerduty(pagerduty_body("incident.resolved", "r"), NOW))
    assert [type(e) for _, e in ours.events] == [ExternalRecordAcknowledged, ExternalRecordResolved]
    assert [s for s, _ in ours.events] == [1, 2]


def test_jira_news_becomes_status_and_comment_events():
    ours = link(None, "jira")
    assert ours.heard(read_jira(jira_status("In Review", "indeterminate"), NOW, delivery_id="a", own_user=None))
    assert ours.heard(read_jira(jira_comment("grace@example.com"), NOW, delivery_id="b", own_user=None))
    assert ours.heard(read_jira(jira_status("Done", "done"), NOW, delivery_id="c", own_user=None))
    kinds = [type(e) for _, e in ours.events]
    assert kinds == [ExternalRecordStatusChanged, ExternalRecordCommented, ExternalRecordResolved]
    assert ours.events[1][1].note() == "Comment in Jira by grace: Rolled back the deploy"
    assert ours.events[2][1].note() == "Resolved in Jira by Grace (Done)"
    assert json.loads(ours.events[0][1].model_dump_json())["status"] == "In Review"
