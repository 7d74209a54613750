"""What the pipeline keeps and makes: the copy of the records events speak of (`records`), and the delivery rows
it writes (new ones, with their dedup key; digests of held ones).

The copy holds what templates and recipient rules need of an incident, problem or change (number, title,
priority, state, assignment group, assignee), changed only by an event newer than the last one applied (the
envelope's sequence), so a replayed or repeated event changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import CloudEvent, EventData
from itsm_kit.db import UpsertNewer, among
from itsm_notifications.domain.deliveries import DIGESTED, HELD, PENDING, SMTP
from itsm_notifications.store.tables import deliveries, records

COPIED = ("number", "title", "priority", "state", "assignment_group", "assignee")
# Events name their record by one of these; SLA events name the incident their timer runs for.
RECORD_IDS = (("incident_id", "incident"), ("problem_id", "problem"), ("change_id", "change"))
RENAMED = {"short_description": "title", "to_state": "state", "to_priority": "priority",
           "request_state": "state"}  # issue 17: a request's state as its items' events carry it
OWN_EVENTS = {"incident": "itsm.incident.", "problem": "itsm.problem.", "change": "itsm.change.",
              "request": "itsm.request."}
# Events under a record's prefix that speak of something else of it: a request's task (its name, group, person).
NOT_THE_RECORDS = ("itsm.request.task_",)
FIRST_STATE = {"itsm.problem.opened": "new", "itsm.change.requested": "new"}
STATE_OF = {"itsm.incident.resolved": "resolved", "itsm.incident.closed": "closed",
            "itsm.incident.canceled": "canceled", "itsm.problem.closed": "closed", "itsm.change.closed": "closed",
            "itsm.change.canceled": "canceled"}

Key = tuple[str, str]


def record_key(event: CloudEvent, data: EventData) -> Key | None:
    """(record type, id) of what the event speaks of: the incident, problem or change it is about (a change event
    naming an incident is about the change)."""
    for prefix_type, prefix in OWN_EVENTS.items():
        if event.type.startswith(prefix):
            ident = getattr(data, f"{prefix_type}_id", None)  # a standalone task names no request
            return (prefix_type, ident) if ident else None
    if getattr(data, "record_type", None) not in (None, "incident"):  # an SLA event of a requested item's timer
        return data.record_type, data.record_id
    incident = getattr(data, "incident_id", None)
    return ("incident", incident) if incident else None


def keeps_copy(event_type: str) -> bool:
    """Whether events of this type are a record's own, which keep its copy current (an SLA event is not)."""
    return event_type.startswith(tuple(OWN_EVENTS.values())) and not event_type.startswith(NOT_THE_RECORDS)


def changes_of(event: CloudEvent) -> dict[str, Any]:
    """The copied fields this event of the record's own says (an SLA event says none)."""
    if not keeps_copy(event.type):
        return {}
    values = dict(event.data)  # what the model would dump again (5 % of the service in an alert storm)
    values.update(values.pop("changes", None) or {})  # *.updated: the fields and their new values
    found: dict[str, Any] = {}
    for name, value in values.items():
        name = RENAMED.get(name, name)
        if name in COPIED:
            found[name] = value
    if event.type in FIRST_STATE and "state" not in found:
        found["state"] = FIRST_STATE[event.type]
    if event.type in STATE_OF:
        found["state"] = STATE_OF[event.type]
    if isinstance(found.get("priority"), bool) or not isinstance(found.get("priority", 0), int | None):
        found.pop("priority")
    for name in ("number", "title", "state", "assignment_group", "assignee"):
        if found.get(name) is not None:
            found[name] = str(found[name])[:records.c[name].type.length]
    return found


def blank(key: Key) -> dict[str, Any]:
    return {"type": key[0], "id": key[1], **dict.fromkeys(COPIED), "sequence": -1}


_COPIES = select(records).where(among(records.c.record_type, "types"), among(records.c.record_id, "ids"))


_SAVE_COPIES = UpsertNewer(records, ["record_type", "record_id"], (*COPIED, "sequence", "updated_at"))


class RecordCopies:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get_many(self, keys: Collection[Key]) -> dict[Key, dict[str, Any]]:
        """The copies of these records as {"type", "id", fields..., "sequence"}. Not locked: a record's events come
        in one partition, so one consumer writes its copy (and `save` keeps the newest should two overlap in a
        rebalance, until the inbox rolls one of them back); an SLA event of another partition only reads it."""
        if not keys:
            return {}
        # Array parameters, not a list of pairs: one prepared statement whatever the count. Types times ids asks
        # a little more than the pairs (ids are uuids: rarely), and only the pairs are kept.
        keys = set(keys)
        rows = await self.session.execute(_COPIES, {"types": sorted({t for t, _ in keys}),
                                                    "ids": sorted({i for _, i in keys})})
        return {(r.record_type, r.record_id): {"type": r.record_type, "id": r.record_id,
                                                **{name: getattr(r, name) for name in COPIED},
                                                "sequence": r.sequence}
                for r in rows.all() if (r.record_type, r.record_id) in keys}

    async def save(self, copies: Sequence[Mapping[str, Any]], at: datetime) -> None:
        """One statement; a copy another writer moved further on meanwhile stays as that one left it."""
        if not copies:
            return
        rows = [{"record_type": c["type"], "record_id": c["id"], **{n: c[n] for n in COPIED},
                 "sequence": c["sequence"], "updated_at": at} for c in copies]
        await _SAVE_COPIES(self.session, rows)  # the copies' keys are distinct


def delivery_row(*, ident: str, dedup_key: str, event_id: str | None, event_type: str, channel: str,
                 recipient: str, urgency: str, subject: str, body: str, payload: Mapping[str, Any], now: datetime,
                 state: str = PENDING, due: datetime | None = None, subscription_id: str | None = None,
                 record: Mapping[str, Any] | None = None, endpoint_id: str | None = None,
                 person_id: str | None = None) -> dict[str, Any]:
    """A new delivery as its row: due at `due` (now), no attempt made yet; its receiver is its endpoint, or the SMTP
    relay."""
    return {
        "id": ident, "dedup_key": dedup_key, "event_id": event_id, "event_type": event_type,
        "subscription_id": subscription_id, "record_type": record["type"] if record else None,
        "record_id": record["id"] if record else None, "channel": channel, "endpoint_id": endpoint_id,
        "breaker_key": endpoint_id or SMTP, "recipient": recipient, "person_id": person_id, "urgency": urgency,
        "state": state, "attempts": 0, "next_attempt_at": due or now, "lease_until": None, "subject": subject,
        "body": body, "payload": payload, "last_status": None, "last_error": None, "digest_id": None,
        "created_at": now, "sent_at": None, "updated_at": now,
    }


class Outgoing:
    """The deliveries the pipeline writes."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """New deliveries; one whose dedup key exists (the same event, channel and recipient, made before) is not
        made again. One multi-row statement (COPY, the kit's bulk path, cannot skip the conflicts)."""
        if rows:
            await self.session.execute(pg_insert(deliveries).on_conflict_do_nothing(index_elements=["dedup_key"]),
                                       list(rows))

    async def due_held(self, now: datetime, limit: int) -> list[Any]:
        """Held deliveries due by now, locked (those another replica holds are left to it), by person and
        channel."""
        query = (select(deliveries.c.id, deliveries.c.person_id, deliveries.c.channel, deliveries.c.recipient,
                        deliveries.c.subject, deliveries.c.payload, deliveries.c.event_type,
                        deliveries.c.created_at)
                 .where(deliveries.c.state == HELD, deliveries.c.next_attempt_at <= now)
                 .order_by(deliveries.c.person_id, deliveries.c.channel, deliveries.c.created_at, deliveries.c.id)
                 .limit(limit).with_for_update(skip_locked=True))
        return list((await self.session.execute(query)).all())

    async def digested(self, carried: Mapping[str, Collection[str]], now: datetime) -> None:
        """Held rows carried by their digest (digest id -> held ids), in one statement."""
        pairs = [(digest, held) for digest, ids in carried.items() for held in ids]
        if not pairs:
            return
        moved = (func.unnest(cast([p[1] for p in pairs], ARRAY(String)), cast([p[0] for p in pairs], ARRAY(String)))
                 .table_valued("held_id", "digest_id").render_derived(name="moved"))
        await self.session.execute(
            update(deliveries).where(and_(deliveries.c.id == moved.c.held_id, deliveries.c.state == HELD))
            .values(state=DIGESTED, digest_id=moved.c.digest_id, updated_at=now))
