"""Use cases: load the incident, apply the command or event, store it with its events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.events.alerts import AlertReceived
from itsm_kit.errors import Problem, not_found
from itsm_kit.outbox import Outbox
from itsm_incidents.domain import AUTO_RESOLUTION_CODE, AlertAction, Incident, State, alert_action
from itsm_incidents.store import AlertRepository, IncidentRepository, StaleVersion


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
    """Open, deduplicate onto, acknowledge or clear the incident an alert is about."""
    incidents, alerts = IncidentRepository(session), AlertRepository(session)
    at = alert.received_at
    row = await alerts.active(alert.dedup_key)
    incident = await incidents.get(row["incident_id"], for_update=True) if row else None
    if row is not None and not incident.is_open:
        await alerts.retire(row)  # resolved by a person while it kept firing: a new episode starts
        row = incident = None
    storm = None
    if row is None and alert.status == "firing" and alert.storm_window_seconds and alert.group_key:
        since = at - timedelta(seconds=alert.storm_window_seconds)
        storm_id = await alerts.storm_incident(alert.group_key, since)
        storm = await incidents.get(storm_id, for_update=True) if storm_id else None
        storm = storm if storm is not None and storm.is_open else None
    action = alert_action(alert.status, has_active_alert=row is not None, storm_incident_open=storm is not None)

    if action is AlertAction.IGNORE:
        return None
    if action is AlertAction.OPEN:
        incident = Incident.open_from_alert(id=str(uuid.uuid4()), number=await incidents.next_number(), alert=alert)
        await _store(incidents, outbox, incident, None)
        await alerts.add(incident.id, alert)
        return incident
    if row is None:  # a new member of an open storm incident
        incident, loaded = storm, storm.version
        await alerts.add(incident.id, alert)
    else:
        loaded = incident.version
        await alerts.seen_again(row, alert)
    if action is AlertAction.ATTACH:
        incident.attach_alert(alert.dedup_key, at)
    elif action is AlertAction.ACKNOWLEDGE and alert.acknowledge_incident:
        incident.acknowledge(at)
    elif action is AlertAction.CLEAR and alert.resolve_incident and not await alerts.still_active(incident.id):
        incident.resolve(AUTO_RESOLUTION_CODE, f"Every alert of this incident cleared at its source "
                         f"({alert.integration_kind}).", at)
    await _store(incidents, outbox, incident, loaded)
    return incident


__all__ = ["StaleVersion", "change_state", "open_incident", "receive_alert", "resolve_incident"]
