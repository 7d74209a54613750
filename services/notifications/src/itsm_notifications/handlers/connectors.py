"""Connectors (PagerDuty, Jira): what to send them for an event, and what they tell us back.
Issue 16, connectors helper.

Outbound runs in the pipeline's (the consumer's) transaction: the link records the state the tool will have as the
delivery is made, so a later event (ours, or the echo of the tool's own change) that would send the same state sends
nothing. Inbound webhooks are verified against the endpoint's inbound secret, mapped to our record through the link,
and published on itsm.notifications for the owning service, which stays authoritative.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import CloudEvent, EventData
from itsm_kit.clock import utcnow
from itsm_kit.errors import Problem
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications.channels import Endpoint, Outcome, Outgoing
from itsm_notifications.domain.connectors import (
    JIRA, JIRA_CREATES, PAGERDUTY, ExternalLink, Heard, dedup_key, echoes, jira_label, jira_signed, pagerduty_action,
    pagerduty_signed, read_jira, read_pagerduty, record_of_label,
)
from itsm_notifications.domain.endpoints import Endpoint as ConnectorEndpoint
from itsm_notifications.store.connectors import ConnectorRepository
from itsm_notifications.store.endpoints import EndpointRepository

log = logging.getLogger(__name__)

# What a connector sender needs of the record beyond the pipeline's copy (from the event's data, when it has them).
RECORD_FACTS = ("number", "title", "priority", "state", "assignment_group", "assignee", "description", "affected_ci",
                "business_service")


def _record(event: CloudEvent, data: Mapping[str, Any], record: Mapping[str, Any] | None
            ) -> tuple[str | None, str | None, dict[str, Any]]:
    """(record type, record id, what is known of it): the pipeline's copy first, the event's own data over it."""
    record_type = (record or {}).get("type") or event.type.split(".")[1]
    record_id = (record or {}).get("id") or data.get(f"{record_type}_id") or event.subject
    facts = {k: v for k, v in (record or {}).items() if k in RECORD_FACTS and v is not None}
    if data.get("short_description"):
        facts["title"] = data["short_description"]
    facts.update({k: data[k] for k in RECORD_FACTS if data.get(k) not in (None, "")})
    return record_type, record_id, facts


async def outbound(session: AsyncSession, endpoint: Endpoint, event: CloudEvent, data: EventData,
                   record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The payload of a delivery to a connector endpoint for this event, or None when the tool needs nothing
    (an event it does not mirror, or a state it already has: what it told us itself is never echoed back).
    Called by the pipeline in the consumer's transaction; records the state the tool will have."""
    fields = data.model_dump(mode="json")
    record_type, record_id, facts = _record(event, fields, record)
    if not record_id:
        return None
    repo = ConnectorRepository(session)
    if endpoint.kind == PAGERDUTY:
        action = pagerduty_action(event.type, fields) if record_type == "incident" else None
        if action is None:
            return None
        link = await repo.link(endpoint.id, record_type, record_id, for_update=True)
        if echoes(action, link.external_state if link else None):
            return None
        if link is None:
            link = ExternalLink(endpoint.id, record_type, record_id, PAGERDUTY, dedup_key(record_type, record_id))
            link.sent(action)
            await repo.add(link)
        else:
            loaded = link.version
            link.sent(action)
            await repo.save(link, loaded)
        return {"connector": PAGERDUTY, "event_action": action, "dedup_key": link.external_key,
                "source": event.source, "record_type": record_type, "record_id": record_id, "record": facts}
    if endpoint.kind == JIRA:
        if JIRA_CREATES.get(event.type) != record_type:
            return None
        if await repo.link(endpoint.id, record_type, record_id) is not None:
            return None  # an issue was made (or is being made) for it already: a redelivered or repeated opening
        await repo.add(ExternalLink(endpoint.id, record_type, record_id, JIRA, jira_label(record_id)))
        return {"connector": JIRA, "action": "create_issue", "record_type": record_type, "record_id": record_id,
                "record": facts}
    return None


async def issue_created(session: AsyncSession, outgoing: Outgoing, outcome: Outcome) -> None:
    """Channel.after of Jira: the created issue's key on the link, in the transaction that records the attempt."""
    payload = outgoing.payload or {}
    record_type = outgoing.record_type or payload.get("record_type")
    record_id = outgoing.record_id or payload.get("record_id")
    if outcome.external_id and outgoing.endpoint is not None and record_type and record_id:
        await ConnectorRepository(session).set_external(outgoing.endpoint.id, record_type, record_id,
                                                        external_id=outcome.external_id, url=outcome.external_url)


# -- inbound webhooks -----------------------------------------------------------------------------------------------

def _unauthorized(connector: str) -> Problem:
    return Problem(401, "Unauthorized", f"the {connector} webhook signature is missing or does not match the "
                   "endpoint's inbound secret")


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Problem(422, "Unprocessable Content", "the webhook body is not JSON") from None


async def _endpoint(uow: UnitOfWork, endpoint_id: str, connector: str) -> ConnectorEndpoint:
    endpoint = await EndpointRepository(uow.session).get(endpoint_id)
    if endpoint is None or endpoint.kind != connector:
        raise Problem(404, "Not Found", f"no {connector} endpoint {endpoint_id}")
    return endpoint


async def pagerduty_webhook(uow: UnitOfWork, endpoint_id: str, body: bytes, signature: str | None) -> str:
    """A PagerDuty v3 webhook, as received: what became of it (published, repeated, ignored, unknown_record)."""
    async with uow:
        repo = ConnectorRepository(uow.session)
        endpoint = await _endpoint(uow, endpoint_id, PAGERDUTY)
        if not pagerduty_signed(body, signature, endpoint.inbound_secret):
            raise _unauthorized("PagerDuty")
        return await _take(uow, repo, endpoint_id, read_pagerduty(_parsed(body), utcnow()))


async def jira_webhook(uow: UnitOfWork, endpoint_id: str, body: bytes, signature: str | None,
                       delivery_id: str | None) -> str:
    """A Jira webhook, as received (delivery_id: X-Atlassian-Webhook-Identifier, the same on Jira's retries)."""
    async with uow:
        repo = ConnectorRepository(uow.session)
        endpoint = await _endpoint(uow, endpoint_id, JIRA)
        if not jira_signed(body, signature, endpoint.inbound_secret):
            raise _unauthorized("Jira")
        heard = read_jira(_parsed(body), utcnow(), delivery_id=delivery_id,
                          own_user=(endpoint.options or {}).get("user"))
        return await _take(uow, repo, endpoint_id, heard)


async def _take(uow: UnitOfWork, repo: ConnectorRepository, endpoint_id: str, heard: Heard | None) -> str:
    if heard is None:
        return "ignored"  # an event type we do not mirror, or the connector's own comment
    link = await repo.find(endpoint_id, external_id=heard.external_id, external_key=heard.external_key,
                           record_id=record_of_label(heard.labels))
    if link is None:
        # Answered 202 all the same: the tool would retry a refusal for ever, and nothing here will change that.
        log.info("connector webhook names no record of ours; nothing done",
                 extra={"endpoint_id": endpoint_id, "external_id": heard.external_id,
                        "external_key": heard.external_key, "kind": heard.kind})
        return "unknown_record"
    if heard.event_id and not await repo.first_receipt(endpoint_id, heard.event_id):
        return "repeated"
    loaded = link.version
    published = link.heard(heard)
    await repo.save(link, loaded)
    uow.add(link)
    await uow.commit()
    return "published" if published else "repeated"
