"""Use cases: load the incident, apply the command or event, store it with its events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.events.alerts import AlertReceived
from itsm_contracts.events.incidents import IncidentStateChanged
from itsm_kit.domain import InvalidValue
from itsm_kit.errors import Problem, not_found
from itsm_kit.outbox import Outbox
from itsm_incidents.domain import (
    AUTO_RESOLUTION_CODE, CHILDREN_FOLLOW, SYSTEM, AlertAction, Incident, State, alert_action, is_due_for_auto_close,
    valid_matrix,
)
from itsm_incidents.store import AlertRepository, IncidentRepository, PriorityMatrixRepository, StaleVersion


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _store(repo: IncidentRepository, outbox: Outbox, incident: Incident, loaded_version: int | None) -> None:
    """Save the incident with its events and timeline lines; then its children follow a state change.

    Children move in this same transaction, bending "one aggregate per transaction" on
    purpose: they share the parent's database, and a parent resolved while its children stay
    open (or the reverse) would be a state nobody asked for. Each child's events go out too.
    """
    moves = [e for _, e in incident.events if isinstance(e, IncidentStateChanged)]
    if loaded_version is None:
        await repo.add(incident)
    else:
        await repo.save(incident, loaded_version)
    await repo.add_activity(incident.id, incident.activity)
    incident.activity.clear()
    await outbox.add_raised(repo.session, incident.id, incident.events)
    # Parents are top-level (a child has no children), and only some states move children.
    if moves and incident.parent_id is None and incident.state in CHILDREN_FOLLOW:
        for child in await repo.children(incident.id):
            loaded = child.version
            child.follow(incident, moves[-1].changed_at, actor=moves[-1].actor or SYSTEM)
            if child.version != loaded:
                await _store(repo, outbox, child, loaded)


async def _parent(repo: IncidentRepository, parent_id: str | None) -> Incident | None:
    if parent_id is None:
        return None
    parent = await repo.get(parent_id)
    if parent is None:
        raise InvalidValue(f"the parent incident {parent_id} does not exist")
    return parent


async def open_incident(session: AsyncSession, outbox: Outbox, *, actor: str = SYSTEM, parent_id: str | None = None,
                        **fields: Any) -> Incident:
    """A manual incident; `fields` are Incident.open's (short description, impact, caller, ...)."""
    repo = IncidentRepository(session)
    incident = Incident.open(
        id=str(uuid.uuid4()), number=await repo.next_number(), origin="manual", at=utcnow(), actor=actor,
        parent=await _parent(repo, parent_id), matrix=await PriorityMatrixRepository(session).get(), **fields,
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


async def _change(session: AsyncSession, outbox: Outbox, incident_id: str, if_match: int | None,
                  command: Callable[[Incident], None]) -> Incident:
    """Load and lock the incident, check If-Match, apply `command`, store what it did."""
    repo = IncidentRepository(session)
    incident = await _load_for_change(repo, incident_id, if_match)
    loaded = incident.version
    command(incident)
    await _store(repo, outbox, incident, loaded)
    return incident


async def resolve_incident(session: AsyncSession, outbox: Outbox, incident_id: str, *, code: str, notes: str,
                           actor: str = SYSTEM, if_match: int | None = None) -> Incident:
    return await _change(session, outbox, incident_id, if_match,
                         lambda incident: incident.resolve(code, notes, utcnow(), actor=actor))


async def change_state(session: AsyncSession, outbox: Outbox, incident_id: str, *, state: State,
                       hold_reason: str | None = None, comment: str | None = None, actor: str = SYSTEM,
                       reopen_window: timedelta | None = None, if_match: int | None = None) -> Incident:
    return await _change(session, outbox, incident_id, if_match, lambda incident: incident.move_to(
        state, utcnow(), hold_reason, actor=actor, comment=comment, reopen_window=reopen_window))


async def update_incident(session: AsyncSession, outbox: Outbox, incident_id: str, changes: dict[str, Any], *,
                          actor: str = SYSTEM, if_match: int | None = None) -> Incident:
    repo = IncidentRepository(session)
    incident = await _load_for_change(repo, incident_id, if_match)
    loaded = incident.version
    parent_id = changes.get("parent_id")
    incident.update(
        changes, utcnow(), actor=actor, matrix=await PriorityMatrixRepository(session).get(),
        parent=await _parent(repo, parent_id),
        has_children=bool(parent_id) and await repo.has_children(incident_id),
    )
    await _store(repo, outbox, incident, loaded)
    return incident


async def add_comment(session: AsyncSession, outbox: Outbox, incident_id: str, *, text: str,
                      actor: str = SYSTEM) -> Incident:
    """Comments need no If-Match: they change no field a writer could have overwritten."""
    return await _change(session, outbox, incident_id, None,
                         lambda incident: incident.comment(text, utcnow(), actor=actor))


async def add_work_note(session: AsyncSession, outbox: Outbox, incident_id: str, *, text: str,
                        actor: str = SYSTEM) -> Incident:
    return await _change(session, outbox, incident_id, None,
                         lambda incident: incident.add_work_note(text, utcnow(), actor=actor))


async def auto_close_due(session: AsyncSession, outbox: Outbox, now: datetime, days: float,
                         batch_size: int = 200) -> int:
    """Close one batch of incidents resolved for more than `days` (never a major one); how many closed.

    Rows another replica is closing are skipped (SKIP LOCKED), so replicas share the work
    and none closes an incident twice. `now` is a parameter so tests can drive the clock.
    """
    after = timedelta(days=days)
    if after <= timedelta(0):
        return 0
    repo = IncidentRepository(session)
    due = [i for i in await repo.resolved_before(now - after, batch_size) if is_due_for_auto_close(i, now, after)]
    for incident in due:
        loaded = incident.version
        incident.close(now, actor=SYSTEM, automatically=True)
        await _store(repo, outbox, incident, loaded)
    return len(due)


async def priority_matrix(session: AsyncSession) -> tuple[dict[tuple[int, int], int], datetime | None, str | None]:
    repo = PriorityMatrixRepository(session)
    return await repo.get(), *await repo.changed()


async def set_priority_matrix(session: AsyncSession, cells: list[tuple[int, int, int]], *, actor: str) -> None:
    """Used by new incidents and by every later change of impact or urgency; open incidents keep their priority."""
    await PriorityMatrixRepository(session).replace(valid_matrix(cells), by=actor, at=utcnow())


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


__all__ = ["StaleVersion", "add_comment", "add_work_note", "auto_close_due", "change_state", "open_incident",
           "priority_matrix", "receive_alert", "resolve_incident", "set_priority_matrix", "update_incident"]
