"""Use cases: load the incident, apply the command or event, store it with its events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.events.alerts import AlertReceived
from itsm_kit.errors import Problem, not_found
from itsm_kit.outbox import Outbox
from itsm_incidents.domain import AUTO_RESOLUTION_CODE, Incident, State
from itsm_incidents.store import IncidentRepository, StaleVersion


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _store(repo: IncidentRepository, outbox: Outbox, incident: Incident, loaded_version: int | None) -> None:
    if loaded_version is None:
        await repo.add(incident)
    else:
        await repo.save(incident, loaded_version)
    await outbox.add_raised(repo.session, incident.id, incident.events)


async def open_incident(session: AsyncSession, outbox: Outbox, *, short_description: str, description: str,
                        impact: int, urgency: int) -> Incident:
    repo = IncidentRepository(session)
    incident = Incident.open(
        id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description,
        description=description, impact=impact, urgency=urgency, origin="manual", at=utcnow(),
    )
    await _store(repo, outbox, incident, None)
    return incident


async def _load_for_change(repo: IncidentRepository, incident_id: str, if_match: int | None) -> Incident:
    incident = await repo.get(incident_id, for_update=True)
    if incident is None:
        raise not_found("incident", incident_id)
    if if_match is not None and if_match != incident.version:
        raise Problem(412, "Precondition Failed",
                      f"incident {incident_id} is at version {incident.version}, not {if_match}; reload it and retry",
                      current_version=incident.version)
    return incident


async def resolve_incident(session: AsyncSession, outbox: Outbox, incident_id: str, *, code: str, notes: str,
                           if_match: int | None = None) -> Incident:
    repo = IncidentRepository(session)
    incident = await _load_for_change(repo, incident_id, if_match)
    loaded = incident.version
    incident.resolve(code, notes, utcnow())
    await _store(repo, outbox, incident, loaded)
    return incident


async def change_state(session: AsyncSession, outbox: Outbox, incident_id: str, *, state: State,
                       hold_reason: str | None = None, if_match: int | None = None) -> Incident:
    repo = IncidentRepository(session)
    incident = await _load_for_change(repo, incident_id, if_match)
    loaded = incident.version
    incident.move_to(state, utcnow(), hold_reason)
    await _store(repo, outbox, incident, loaded)
    return incident


async def receive_alert(session: AsyncSession, outbox: Outbox, alert: AlertReceived) -> Incident | None:
    """Open, deduplicate onto, or resolve the incident an alert is about."""
    repo = IncidentRepository(session)
    incident = await repo.open_for_alert(alert.dedup_key)
    at = alert.received_at
    if incident is None:
        if alert.status == "resolved":
            return None  # nothing open for it: already resolved, or never seen firing
        incident = Incident.open_from_alert(
            id=str(uuid.uuid4()), number=await repo.next_number(), dedup_key=alert.dedup_key,
            severity=alert.severity, summary=alert.summary, description=alert.description, at=at,
        )
        await _store(repo, outbox, incident, None)
        return incident
    loaded = incident.version
    if alert.status == "firing":
        incident.attach_alert(at)
    else:
        incident.resolve(AUTO_RESOLUTION_CODE, f"The alert cleared at its source ({alert.integration_kind}).", at)
    await _store(repo, outbox, incident, loaded)
    return incident


__all__ = ["StaleVersion", "change_state", "open_incident", "receive_alert", "resolve_incident"]
