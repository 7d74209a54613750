"""The pipeline: events in, durable delivery rows out.

For a run of consumed events, in the consumer's transaction (so the rows commit with the inbox record: an accepted
event is never lost, nor applied twice): keep the record copy current, find the subscriptions each event matches,
resolve their recipients through the directory, render each message, and write one delivery row per recipient and
channel (dedup key: event id, channel, recipient; a row made before is not made again). Low-urgency e-mails to a
person are held for the next digest (or their working hours); `digest_due` later gathers them into one message.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from itsm_contracts import CloudEvent, EventData
from itsm_kit.clock import utcnow
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications.channels import Endpoint as Destination
from itsm_notifications.domain.deliveries import HELD, PENDING
from itsm_notifications.domain.quiet_hours import held_until
from itsm_notifications.domain.subscriptions import Subscription, addresses, matches, wanted
from itsm_notifications.domain.templates import (
    GENERIC, Rendered, TemplateRefused, context, default_template, render,
)
from itsm_notifications.handlers import connectors
from itsm_notifications.store.directory import recipients
from itsm_notifications.store.endpoints import EndpointRepository
from itsm_notifications.store.records import (
    COPIED, Key, Outgoing, RecordCopies, blank, changes_of, delivery_row, record_key,
)
from itsm_notifications.store.subscriptions import SubscriptionRepository, TemplateRepository

log = logging.getLogger(__name__)

CONNECTOR_CHANNELS = frozenset({"pagerduty", "jira"})
MAX_DEDUP_KEY = 300
DIGEST_EVENT_TYPE = "itsm.notification.digest"
PATHS = {"incident": "incidents", "problem": "problems", "change": "changes", "request": "requests"}


def record_url(portal_url: str, record: Mapping[str, Any] | None) -> str | None:
    """The record's page; none for a record the portal has no page of its own for (a requested item)."""
    if not record or record["type"] not in PATHS:
        return None
    return f"{portal_url.rstrip('/')}/{PATHS[record['type']]}/{record['id']}"


def dedup_key(event_id: str, channel: str, recipient: str) -> str:
    key = f"{event_id}:{channel}:{recipient}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    # Only for an address too long for the column: the same recipient still gives the same key.
    return f"{event_id}:{channel}:sha256:{hashlib.sha256(recipient.encode()).hexdigest()}"


def _public(copy: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A record copy as templates, filters and payloads see it."""
    return None if copy is None else {"type": copy["type"], "id": copy["id"], **{n: copy[n] for n in COPIED}}


def rendered(sources: Sequence[tuple[str, str]], ctx: Mapping[str, Any]) -> Rendered:
    """The first of these templates that renders (a stored one that fails at send time falls back to the default),
    else a line that says what happened."""
    for subject, body in sources:
        try:
            return render(subject, body, ctx)
        except TemplateRefused as refused:
            log.warning("a template did not render; falling back: %s", refused)
    event = ctx["event"]
    return Rendered(f"[ITSM] {event['type']}", f"{event['type']} at {event['time']}\n")


async def events_arrived(uow: UnitOfWork, run: list[tuple[CloudEvent, EventData]], *, portal_url: str,
                         digest_interval_seconds: float, made: Callable[[], None] = lambda: None) -> None:
    """`made` is told when the run made deliveries (they are sent once it commits)."""
    async with uow:
        session = uow.session
        now = utcnow()
        copies = RecordCopies(session)
        keys = [record_key(e, d) for e, d in run]
        current: dict[Key, dict[str, Any]] = await copies.get_many({k for k in keys if k})
        changed: dict[Key, dict[str, Any]] = {}
        by_type: dict[str, list[Subscription]] = defaultdict(list)
        for subscription in await SubscriptionRepository(session).enabled_for({e.type for e, _ in run}):
            by_type[subscription.event_type].append(subscription)

        matched: list[tuple[CloudEvent, EventData, dict[str, Any], dict[str, Any] | None, list[Subscription]]] = []
        for (event, data), key in zip(run, keys, strict=True):
            if key is not None and (fields := changes_of(event)):
                copy = current.get(key) or blank(key)
                if event.sequence > copy["sequence"]:  # a replay, or an older event, changes nothing
                    current[key] = changed[key] = {**copy, **fields, "sequence": event.sequence}
            if not by_type.get(event.type):
                continue
            record = _public(current.get(key)) if key else None
            values = data.model_dump(mode="json")
            if chosen := [s for s in by_type[event.type] if matches(s.filter, values, record)]:
                matched.append((event, data, values, record, chosen))
        await copies.save(list(changed.values()), now)

        if matched:
            rows = await _deliveries(session, matched, now, portal_url, digest_interval_seconds)
            await Outgoing(session).add(rows)
            if rows:
                made()
        await uow.commit()


async def _deliveries(session, matched, now: datetime, portal_url: str, interval: float) -> list[dict[str, Any]]:
    usernames: set[str] = set()
    group_names: set[str] = set()
    endpoint_ids: set[str] = set()
    template_names: set[str] = set()
    for event, _, values, record, chosen in matched:
        template_names.add(event.type)
        for subscription in chosen:
            who = wanted(subscription, values, record)
            usernames.update(who.people)
            group_names.update(who.groups)
            if subscription.endpoint_id:
                endpoint_ids.add(subscription.endpoint_id)
            if subscription.template:
                template_names.add(subscription.template)
    people, groups = await recipients(session, usernames, group_names)
    endpoints = await EndpointRepository(session).get_many(endpoint_ids)
    stored = await TemplateRepository(session).named(template_names)

    rows: dict[str, dict[str, Any]] = {}  # by dedup key: first wins (high urgency subscriptions come first)
    for event, data, values, record, chosen in matched:
        url = record_url(portal_url, record)
        published = event.model_dump(mode="json", exclude_none=True)
        for subscription in chosen:
            sources = [(t.subject, t.body) for t in (stored.get(subscription.template or ""), stored.get(event.type))
                       if t is not None] + [default_template(event.type), GENERIC]

            def message(recipient_name: str | None) -> Rendered:
                return rendered(sources, context(event_type=event.type, time=event.time, data=values, record=record,
                                                 url=url, recipient=recipient_name, event_id=event.id))

            def row(channel: str, recipient: str, text: Rendered, *, person_id: str | None = None,
                    endpoint_id: str | None = None, state: str = PENDING, due: datetime | None = None,
                    payload: Mapping[str, Any] | None = None) -> None:
                key = dedup_key(event.id, channel, recipient)
                if key in rows:
                    return
                ident = str(uuid.uuid4())
                rows[key] = delivery_row(
                    ident=ident, dedup_key=key, event_id=event.id, event_type=event.type, channel=channel,
                    recipient=recipient, urgency=subscription.urgency, subject=text.subject, body=text.body,
                    payload=payload if payload is not None else {
                        "notification": {"id": ident, "subject": text.subject, "text": text.body,
                                         "urgency": subscription.urgency, "url": url},
                        "event": published, "record": record},
                    now=now, state=state, due=due, subscription_id=subscription.id, record=record,
                    endpoint_id=endpoint_id, person_id=person_id)

            if subscription.channel == "email":
                for address in addresses(wanted(subscription, values, record), people, groups):
                    person = address.person
                    if subscription.urgency == "low" and person is not None:
                        due = held_until(now, interval, person.working_hours, person.timezone)
                        row("email", address.email, message(address.name), person_id=person.id, state=HELD, due=due)
                    else:
                        row("email", address.email, message(address.name), person_id=person.id if person else None)
                continue
            endpoint = endpoints.get(subscription.endpoint_id)
            if endpoint is None or not endpoint.enabled:
                continue  # removed or switched off since the subscription named it
            text = message(endpoint.name)
            payload = None
            if subscription.channel in CONNECTOR_CHANNELS:
                destination = Destination(id=endpoint.id, name=endpoint.name, kind=str(endpoint.kind),
                                          url=endpoint.url, secret=endpoint.secret, options=endpoint.options)
                payload = await connectors.outbound(session, destination, event, data, record)
                if payload is None:
                    continue  # the tool needs nothing for this event
            row(subscription.channel, endpoint.name, text, endpoint_id=endpoint.id, payload=payload)
    return list(rows.values())


# -- digests ---------------------------------------------------------------------------------------------------

async def digest_due(uow: UnitOfWork, *, limit: int = 1000, now: datetime | None = None) -> bool:
    """Held deliveries that are due, gathered per person and channel into one new pending delivery each; the held
    ones marked digested with its id, in one transaction. Says whether more may be due."""
    async with uow:
        now = now or utcnow()
        out = Outgoing(uow.session)
        held = await out.due_held(now, limit)
        if not held:
            return False
        batches: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in held:
            batches[(row.person_id, row.channel)].append(row)
        rows: list[dict[str, Any]] = []
        carried: dict[str, list[str]] = {}
        for (person_id, channel), items in batches.items():
            ident = str(uuid.uuid4())
            subject, body = digest_text([(r.subject, ((r.payload or {}).get("notification") or {}).get("url"))
                                         for r in items])
            rows.append(delivery_row(
                ident=ident, dedup_key=f"digest:{ident}", event_id=None, event_type=DIGEST_EVENT_TYPE,
                channel=channel, recipient=items[-1].recipient, urgency="low", subject=subject, body=body,
                payload={"notification": {"id": ident, "subject": subject, "text": body, "urgency": "low",
                                          "url": None},
                         "event": None, "record": None, "digest_of": [r.id for r in items]},
                now=now, person_id=person_id))
            carried[ident] = [r.id for r in items]
        await out.add(rows)
        await out.digested(carried, now)
        await uow.commit()
        return len(held) == limit


def digest_text(items: Sequence[tuple[str, str | None]]) -> tuple[str, str]:
    """Subject "N notifications" and a body listing each (its subject and link)."""
    lines = [f"{len(items)} notifications since the last digest:", ""]
    for subject, url in items:
        lines.append(f"- {subject}")
        if url:
            lines.append(f"  {url}")
    return f"{len(items)} notifications", "\n".join(lines) + "\n"
