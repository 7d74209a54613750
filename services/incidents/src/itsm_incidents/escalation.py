"""Incidents react to SLA breaches (itsm.sla.breached): a work note, the escalation group, a mark.

sla announces a breach once per timer; the inbox makes a redelivery change nothing. A run
of breaches is one read (the incidents, locked in id order) and one write per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import CloudEvent
from itsm_contracts.events.sla import SlaBreached
from itsm_kit.consumer import Batched
from itsm_kit.outbox import Outbox
from itsm_incidents.domain import Incident
from itsm_incidents.store import IncidentRepository


def breach_note(breach: SlaBreached, escalate_to: str | None) -> str:
    target = _duration(timedelta(seconds=breach.target_seconds))
    note = (f"SLA breached: {breach.kind} target of {breach.policy} ({target}) was due at "
            f"{breach.breached_at:%Y-%m-%d %H:%M:%S} UTC.")
    return note + (f" Escalated to {escalate_to}." if escalate_to else "")


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return " ".join(parts) or "0s"


async def sla_breached(session: AsyncSession, outbox: Outbox, run: Sequence[tuple[CloudEvent, SlaBreached]]) -> None:
    """Escalate each breached incident, in the run's order; a breach of an incident this service
    does not have (opened elsewhere, or a test's) changes nothing."""
    repo = IncidentRepository(session)
    incidents: dict[str, Incident] = await repo.get_many(sorted({b.incident_id for _, b in run}), for_update=True)
    raised: list[tuple[str, list, CloudEvent]] = []
    changed: dict[str, Incident] = {}
    for cause, breach in run:
        incident = incidents.get(breach.incident_id)
        if incident is None:
            continue
        before = len(incident.events)
        group = breach.escalation_group if incident.is_open else None
        incident.escalate(breach_note(breach, group), breach.detected_at, group=breach.escalation_group,
                          timer_id=breach.timer_id, kind=breach.kind)
        raised.append((incident.id, incident.events[before:], cause))
        changed[incident.id] = incident
    await repo.save_many(list(changed.values()))
    await repo.add_activity_many([(i.id, i.activity) for i in changed.values()])
    await outbox.add_many(session, raised)
    for incident in changed.values():
        incident.events.clear()
        incident.activity.clear()


def event_handlers(outbox: Outbox) -> dict[str, Batched]:
    async def many(session: AsyncSession, run: list) -> None:
        await sla_breached(session, outbox, run)

    async def one(session: AsyncSession, event: CloudEvent, data: Any) -> None:
        await many(session, [(event, data)])

    return {SlaBreached.type: Batched(one=one, many=many)}
