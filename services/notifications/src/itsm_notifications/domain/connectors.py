"""Connectors (PagerDuty, Jira), pure: what a record's event asks of the tool, what the tool told us back, and the
rule that keeps the two from echoing each other (issue 16, connectors helper).

The core record stays authoritative. An external link remembers the state the tool has (as we sent it, or as it
told us); an event whose state the tool already has sends nothing, so what the tool told us itself never goes back.
What the tool tells us is published (itsm.notifications) for the owning service to apply as it sees fit.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from itsm_contracts.events import EventData
from itsm_contracts.events.external import (
    ExternalRecordAcknowledged, ExternalRecordCommented, ExternalRecordResolved, ExternalRecordStatusChanged,
)
from itsm_kit.domain import RaisesEvents

PAGERDUTY, JIRA = "pagerduty", "jira"
Action = Literal["trigger", "acknowledge", "resolve"]

# -- PagerDuty outbound (Events API v2) ---------------------------------------------------------------------------

# The state the PagerDuty incident has once the action is taken.
ACTION_STATE: dict[str, str] = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
# Echo rule: the link states from which an action changes anything at PagerDuty. A trigger opens (or, after a
# resolve, opens again) the incident; acknowledge and resolve only touch one PagerDuty has heard of and that is not
# there yet. What PagerDuty told us itself is the link's state, so it is never sent back.
ACTION_FROM: dict[str, frozenset[str | None]] = {
    "trigger": frozenset({None, "resolved"}),
    "acknowledge": frozenset({"triggered"}),
    "resolve": frozenset({"triggered", "acknowledged"}),
}
# Our incident's state -> what PagerDuty is told (itsm.incident.state_changed's to_state).
STATE_ACTION: dict[str, Action] = {"in_progress": "acknowledge", "resolved": "resolve", "closed": "resolve",
                                   "canceled": "resolve"}
# Events that say it in their type.
EVENT_ACTION: dict[str, Action] = {
    "itsm.incident.opened": "trigger",
    "itsm.incident.reopened": "trigger",  # PagerDuty resolved it with us: a new PagerDuty incident, same dedup key
    "itsm.incident.resolved": "resolve",
    "itsm.incident.closed": "resolve",
    "itsm.incident.canceled": "resolve",
}
# Priority 1 (critical) .. 5 (planning) -> the Events API's severities.
SEVERITY: dict[int, str] = {1: "critical", 2: "error", 3: "warning"}


def pagerduty_action(event_type: str, data: Mapping[str, Any]) -> Action | None:
    """What an incident event asks of PagerDuty, or None for events it does not mirror."""
    if event_type == "itsm.incident.state_changed":
        if data.get("from_state") == "resolved" and data.get("to_state") == "in_progress":
            return None  # a reopen: itsm.incident.reopened says it (a trigger), not an acknowledgement
        return STATE_ACTION.get(str(data.get("to_state")))
    return EVENT_ACTION.get(event_type)


def echoes(action: Action, link_state: str | None) -> bool:
    """True when the action would change nothing at PagerDuty: it has that state already (we sent it, or it told
    us), or it never heard of the record (acknowledge/resolve before any trigger)."""
    return link_state not in ACTION_FROM[action]


def severity(priority: int | None) -> str:
    return SEVERITY.get(priority or 5, "info")


def dedup_key(record_type: str, record_id: str) -> str:
    return f"itsm-{record_type}-{record_id}"


def portal_link(portal_url: str, record_type: str, record_id: str) -> str:
    return f"{portal_url.rstrip('/')}/{record_type}s/{record_id}"


def pagerduty_event(action: Action, *, record: Mapping[str, Any], record_type: str, record_id: str,
                    portal_url: str, source: str) -> dict[str, Any]:
    """The Events API v2 body, routing key aside (the sender adds it from the endpoint: a secret is never stored in a
    delivery). Only a trigger carries the payload and links."""
    body: dict[str, Any] = {"event_action": action, "dedup_key": dedup_key(record_type, record_id)}
    if action != "trigger":
        return body
    number = record.get("number") or record_id
    body["payload"] = {
        "summary": f"[{number}] {record.get('title') or ''}".strip()[:1024],
        "source": source,
        "severity": severity(record.get("priority")),
        "component": record.get("affected_ci") or record.get("business_service") or None,
        "group": record.get("assignment_group"),
        "class": record_type,
        "custom_details": {k: record.get(k) for k in ("number", "priority", "state", "assignment_group", "assignee")
                           if record.get(k) is not None},
    }
    body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    body["links"] = [{"href": portal_link(portal_url, record_type, record_id), "text": f"{number} in ITSM"}]
    return body


# -- Jira outbound (REST v2) --------------------------------------------------------------------------------------

JIRA_CREATES = {"itsm.incident.opened": "incident", "itsm.problem.opened": "problem"}


def jira_label(record_id: str) -> str:
    return f"itsm-{record_id}"


def jira_issue(*, record: Mapping[str, Any], record_type: str, record_id: str, options: Mapping[str, Any],
               portal_url: str) -> dict[str, Any]:
    """The fields of the Jira issue mirroring a record (POST /rest/api/2/issue)."""
    number = record.get("number") or record_id
    link = portal_link(portal_url, record_type, record_id)
    description = record.get("description") or ""
    return {"fields": {
        "project": {"key": options["project"]},
        "issuetype": {"name": options.get("issue_type", "Task")},
        "summary": f"[{number}] {record.get('title') or ''}".strip()[:255],
        "description": f"{description}\n\n{record_type.capitalize()} {number} in ITSM: {link}".strip(),
        "labels": [jira_label(record_id)],
    }}


# -- signatures of inbound webhooks --------------------------------------------------------------------------------

def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pagerduty_signed(body: bytes, header: str | None, secret: str | None) -> bool:
    """PagerDuty v3 webhooks: X-PagerDuty-Signature is "v1=<hex HMAC-SHA256 of the raw body>", several separated
    by commas while a secret rotates; one match is enough."""
    if not header or not secret:
        return False
    expected = _hmac_hex(secret, body)
    return any(hmac.compare_digest(part.strip().removeprefix("v1="), expected)
               for part in header.split(",") if part.strip().startswith("v1="))


def jira_signed(body: bytes, header: str | None, secret: str | None) -> bool:
    """Jira (admin webhooks with a secret, WebSub style): X-Hub-Signature is "sha256=<hex HMAC-SHA256 of the raw
    body>"."""
    if not header or not secret:
        return False
    method, _, digest = header.strip().partition("=")
    return method.lower() == "sha256" and hmac.compare_digest(digest.lower(), _hmac_hex(secret, body))


# -- what a tool tells us ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Heard:
    """One thing a tool told us of a record it mirrors, read from its webhook."""

    kind: Literal["acknowledged", "resolved", "status_changed", "commented"]
    event_id: str | None  # the tool's id of this delivery, to take it once
    at: datetime
    external_id: str | None  # PagerDuty incident id, Jira issue key
    external_key: str | None = None  # PagerDuty incident_key (our dedup key)
    labels: tuple[str, ...] = ()  # Jira issue labels (itsm-<record id>)
    url: str | None = None
    actor: str | None = None
    state: str | None = None  # the tool's state as it stands now (a status name for Jira)
    status_category: Literal["new", "indeterminate", "done"] | None = None
    body: str | None = None  # a comment


PAGERDUTY_KINDS = {"incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def read_pagerduty(body: Mapping[str, Any], at: datetime) -> Heard | None:
    """A v3 webhook's acknowledgement or resolution; None for the event types we do not mirror."""
    event = body.get("event") if isinstance(body, Mapping) else None
    if not isinstance(event, Mapping) or event.get("event_type") not in PAGERDUTY_KINDS:
        return None
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    agent = event.get("agent") if isinstance(event.get("agent"), Mapping) else {}
    kind = PAGERDUTY_KINDS[event["event_type"]]
    return Heard(kind=kind, event_id=_text(event.get("id"), 255), at=_when(event.get("occurred_at"), at),
                 external_id=_text(data.get("id"), 255), external_key=_text(data.get("incident_key"), 255),
                 url=_text(data.get("html_url"), 2000), actor=_text(agent.get("summary"), 200),
                 state=ACTION_STATE["acknowledge" if kind == "acknowledged" else "resolve"])


def read_jira(body: Mapping[str, Any], at: datetime, *, delivery_id: str | None, own_user: str | None
              ) -> Heard | None:
    """A Jira issue's status change or new comment; None for anything else, and for the connector's own comments
    (what we wrote there is not news to us)."""
    if not isinstance(body, Mapping):
        return None
    issue = body.get("issue") if isinstance(body.get("issue"), Mapping) else {}
    fields = issue.get("fields") if isinstance(issue.get("fields"), Mapping) else {}
    labels = tuple(str(label) for label in fields.get("labels") or () if isinstance(label, str))
    key = _text(issue.get("key"), 255)
    url = _jira_browse(issue.get("self"), key)
    when = _when(body.get("timestamp"), at)
    event = body.get("webhookEvent")
    if event == "comment_created":
        comment = body.get("comment") if isinstance(body.get("comment"), Mapping) else {}
        author = comment.get("author") if isinstance(comment.get("author"), Mapping) else {}
        if own_user and own_user in {author.get(k) for k in ("emailAddress", "name", "accountId", "displayName")}:
            return None
        text = _text(comment.get("body"), 4000)
        if text is None:
            return None
        return Heard(kind="commented", event_id=delivery_id or _text(f"comment:{comment.get('id')}", 255),
                     at=_when(comment.get("created"), when), external_id=key, labels=labels, url=url,
                     actor=_text(author.get("displayName") or author.get("emailAddress"), 200), body=text)
    if event != "jira:issue_updated":
        return None
    changelog = body.get("changelog") if isinstance(body.get("changelog"), Mapping) else {}
    moved = [i for i in changelog.get("items") or () if isinstance(i, Mapping) and i.get("field") == "status"]
    if not moved:
        return None
    status = fields.get("status") if isinstance(fields.get("status"), Mapping) else {}
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"), Mapping) else {}
    category_key = category.get("key") if category.get("key") in ("new", "indeterminate", "done") else None
    name = _text(moved[-1].get("toString") or status.get("name"), 30) or "unknown"
    user = body.get("user") if isinstance(body.get("user"), Mapping) else {}
    return Heard(kind="resolved" if category_key == "done" else "status_changed",
                 event_id=delivery_id or _text(f"status:{key}:{changelog.get('id')}", 255), at=when,
                 external_id=key, labels=labels, url=url,
                 actor=_text(user.get("displayName") or user.get("emailAddress"), 200), state=name,
                 status_category=category_key)


def _jira_browse(self_url: Any, key: str | None) -> str | None:
    """https://x.atlassian.net/rest/api/2/issue/10001 -> https://x.atlassian.net/browse/OPS-1"""
    if not isinstance(self_url, str) or not key or "/rest/api/" not in self_url:
        return None
    return f"{self_url.split('/rest/api/', 1)[0]}/browse/{key}"


def _when(value: Any, default: datetime) -> datetime:
    """An ISO time or Jira's epoch milliseconds; the time received when it is neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=default.tzinfo)
        except (OverflowError, OSError, ValueError):
            return default
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=default.tzinfo)
    return default


def record_of_label(labels: tuple[str, ...]) -> str | None:
    """Our record id from a Jira issue's itsm-<record id> label."""
    return next((label.removeprefix("itsm-") for label in labels if label.startswith("itsm-")), None)


# -- the link --------------------------------------------------------------------------------------------------------

@dataclass
class ExternalLink(RaisesEvents):
    """Our record <-> the tool's, and the state the tool has. Its version is the sequence of what it publishes."""

    endpoint_id: str
    record_type: str
    record_id: str
    connector: str
    external_key: str
    external_id: str | None = None
    external_state: str | None = None
    url: str | None = None
    version: int = 0
    events: list[tuple[int, EventData]] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The subject (and Kafka key) of its events: one link's events stay in order."""
        return f"{self.connector}:{self.endpoint_id}:{self.record_type}:{self.record_id}"

    def sent(self, action: Action) -> None:
        self.external_state = ACTION_STATE[action]

    def heard(self, news: Heard) -> bool:
        """Apply what the tool told us; publish it unless the link has that state already (a retried webhook, or our
        own change coming back). Comments are news each time (their delivery id keeps a retry out)."""
        self.external_id = news.external_id or self.external_id
        self.url = news.url or self.url
        if news.kind != "commented":
            if news.state is not None and news.state == self.external_state:
                return False
            self.external_state = news.state
        common = {"connector": self.connector, "endpoint_id": self.endpoint_id,
                  "external_id": self.external_id or self.external_key, "record_type": self.record_type,
                  "record_id": self.record_id, "external_actor": news.actor, "url": self.url}
        if news.kind == "acknowledged":
            event: EventData = ExternalRecordAcknowledged(**common, acknowledged_at=news.at)
        elif news.kind == "resolved":
            event = ExternalRecordResolved(**common, resolved_at=news.at,
                                           resolution=news.state if self.connector == JIRA else None)
        elif news.kind == "status_changed":
            event = ExternalRecordStatusChanged(**common, status=news.state or "unknown",
                                                status_category=news.status_category, changed_at=news.at)
        else:
            event = ExternalRecordCommented(**common, body=news.body or "", commented_at=news.at)
        self.record(event)
        return True
