"""Jira REST (v2) sender (issue 16, connectors helper): creates the issue mirroring an incident or problem.

Basic auth with the endpoint's user (options["user"]) and API token (its secret). The issue key Jira answers with is
kept on the external link (Channel.after), in the transaction that records the attempt.
"""

from __future__ import annotations

import httpx
import orjson

from itsm_notifications.channels import Channel, Outcome, Outgoing
from itsm_notifications.channels.webhook import post
from itsm_notifications.domain.connectors import jira_issue
from itsm_notifications.handlers.connectors import issue_created


def jira_channel(settings, http: httpx.AsyncClient) -> Channel:
    async def send(outgoing: Outgoing) -> Outcome:
        endpoint, payload = outgoing.endpoint, outgoing.payload or {}
        if payload.get("action") != "create_issue":
            return Outcome(sent=False, skipped=True)
        if outgoing.external_id:  # made by an earlier attempt whose answer was recorded: never a second issue
            return Outcome(sent=False, skipped=True, external_id=outgoing.external_id)
        if endpoint is None or not endpoint.secret or not endpoint.options.get("user") \
                or not endpoint.options.get("project"):
            return Outcome(sent=False, error="the Jira endpoint needs options.user, options.project and an API "
                           "token", permanent=True)
        base = endpoint.url.rstrip("/")
        body = jira_issue(record=payload.get("record") or {}, record_type=payload["record_type"],
                          record_id=payload["record_id"], options=endpoint.options, portal_url=settings.portal_url)
        def created(response: httpx.Response) -> Outcome:
            try:
                key = response.json().get("key")
            except (ValueError, AttributeError):
                key = None
            return Outcome(sent=True, status=response.status_code, external_id=key,
                           external_url=f"{base}/browse/{key}" if key else None)

        return await post(http, f"{base}/rest/api/2/issue", orjson.dumps(body), {},
                          auth=(endpoint.options["user"], endpoint.secret), sent=created)

    return Channel(send=send, after=issue_created, ordered=True)
