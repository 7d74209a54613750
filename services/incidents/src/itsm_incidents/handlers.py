"""Use cases: load the incident, apply the command or event, store it with its events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import CloudEvent
from itsm_contracts.events.alerts import AlertReceived
from itsm_contracts.events.incidents import IncidentStateChanged
from itsm_kit.domain import InvalidValue
from itsm_kit.errors import check_version, not_found
from itsm_kit.outbox import Outbox
from itsm_incidents.domain import (
    AUTO_RESOLUTION_CODE, CHILDREN_FOLLOW, MONITORING, SYSTEM, AlertAction, Incident, State, alert_action,
    is_due_for_auto_close, valid_matrix,
)
from itsm_incidents.store import (
    AlertRepository, IncidentRepository, PriorityMatrixRepository, StaleVersion, alert_row,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _store(repo: IncidentRepository, outbox: Outbox, incident: Incident, loaded_version: int | None) -> None:
    """Save the incident with its events and timeline lines; then its children follow a state change.

    Children move in this same transaction, bending "one aggregate per transaction" on
    purpose: they share the parent's database, and a parent resolved while its children stay
    open (or the reverse) would be a state nobody asked for. Each child's events go out too.
    """
    move = _last_move(incident.events)
    if loaded_version is None:
        await repo.add(incident)
    else:
        await repo.save(incident, loaded_version)
    await repo.add_activity(incident.id, incident.activity)
    incident.activity.clear()
    await outbox.add_raised(repo.session, incident.id, incident.events)
    if move is not None and _may_lead(incident):
        await _children_follow(repo, outbox, incident, move)


def _last_move(raised: list[tuple[int, Any]]) -> IncidentStateChanged | None:
    moves = [e for _, e in raised if isinstance(e, IncidentStateChanged)]
    return moves[-1] if moves else None


def _may_lead(incident: Incident) -> bool:
    """Parents are top-level (a child has no children), and only some states move children."""
    return incident.parent_id is None and incident.state in CHILDREN_FOLLOW


async def _children_follow(repo: IncidentRepository, outbox: Outbox, parent: Incident,
                           move: IncidentStateChanged) -> None:
    for child in await repo.children(parent.id):
        loaded = child.version
        child.follow(parent, move.changed_at, actor=move.actor or SYSTEM)
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
    check_version("incident", incident_id, incident.version, if_match)
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


class _AlertRun:
    """A run of alerts applied in order in memory, then written with one statement per table.

    Reads are one statement per kind for the whole run: the alerts' active rows, their
    incidents (locked), how many alerts each incident still has active. A storm lookup
    needs the database to see what the run changed so far, so it writes that out first.
    """

    def __init__(self, session: AsyncSession, outbox: Outbox, matrix: dict[tuple[int, int], int]):
        self.outbox, self.matrix = outbox, matrix
        self.incidents, self.alerts = IncidentRepository(session), AlertRepository(session)
        self.rows: dict[str, dict | None] = {}   # each dedup key's active row, as this run changed it
        self.known: dict[str, Incident] = {}     # incidents loaded (locked) or opened by this run
        self.active: dict[str, int] = {}         # active alert rows per incident
        self.fresh: set[str] = set()             # incidents not inserted yet
        self.dirty: set[str] = set()             # incidents changed since the last write
        self.new_rows: list[dict] = []
        self.changed_rows: list[dict] = []
        self.tracked_rows: set[int] = set()      # id() of the rows already in new_rows or changed_rows
        self.raised: list[tuple[str, list, CloudEvent]] = []  # (incident, events, the alert that raised them)
        self.numbers: list[str] = []

    async def load(self, alerts: list[AlertReceived]) -> None:
        rows = await self.alerts.active_many(sorted({a.dedup_key for a in alerts}))
        ids = sorted({r["incident_id"] for r in rows.values()})
        self.known = await self.incidents.get_many(ids, for_update=True)
        self.active = await self.alerts.active_counts(ids)
        for key, row in rows.items():
            if self.known[row["incident_id"]].is_open:
                self.rows[key] = row
            else:  # resolved by a person while it kept firing: a new episode starts
                self._row_status(row, "resolved")
        self.numbers = await self.incidents.next_numbers(self._opens_needed(alerts))

    def _opens_needed(self, alerts: list[AlertReceived]) -> int:
        """Incidents this run opens; a storm member may attach instead, leaving a gap in the numbers."""
        active, opens = {k for k, row in self.rows.items() if row}, 0
        for alert in alerts:
            if alert.status == "firing" and alert.dedup_key not in active:
                opens += 1
                active.add(alert.dedup_key)
            elif alert.status == "resolved":
                active.discard(alert.dedup_key)
        return opens

    async def apply(self, cause: CloudEvent, alert: AlertReceived) -> None:
        row = self.rows.get(alert.dedup_key)
        storm = None
        if row is None and alert.status == "firing" and alert.storm_window_seconds and alert.group_key:
            storm = await self._storm_incident(alert)
        action = alert_action(alert.status, has_active_alert=row is not None, storm_incident_open=storm is not None)
        if action is AlertAction.IGNORE:
            return
        if action is AlertAction.OPEN:
            number = self.numbers.pop(0) if self.numbers else await self.incidents.next_number()
            incident = Incident.open_from_alert(id=str(uuid.uuid4()), number=number, alert=alert, matrix=self.matrix)
            self.known[incident.id] = incident
            self.fresh.add(incident.id)
            self._add_row(incident.id, alert)
            self._raised(incident, 0, cause)
            return
        incident = storm if row is None else self.known[row["incident_id"]]
        before = len(incident.events)
        if row is None:  # a new member of an open storm incident
            self._add_row(incident.id, alert)
        else:
            row["count"] += 1
            row["last_seen_at"] = max(row["last_seen_at"], alert.received_at)
            self._row_status(row, alert.status)
        at = alert.received_at
        if action is AlertAction.ATTACH:
            incident.attach_alert(alert.dedup_key, at)
        elif action is AlertAction.ACKNOWLEDGE and alert.acknowledge_incident:
            incident.acknowledge(at)
        elif action is AlertAction.CLEAR and alert.resolve_incident and not self.active.get(incident.id):
            incident.resolve(AUTO_RESOLUTION_CODE, f"Every alert of this incident cleared at its source "
                             f"({alert.integration_kind}).", at, actor=MONITORING)
        self._raised(incident, before, cause)

    def _add_row(self, incident_id: str, alert: AlertReceived) -> None:
        row = alert_row(incident_id, alert)
        self.rows[alert.dedup_key] = row
        self.new_rows.append(row)
        self.tracked_rows.add(id(row))
        self.active[incident_id] = self.active.get(incident_id, 0) + 1

    def _row_status(self, row: dict, status: str) -> None:
        if status == "resolved" and row["status"] != "resolved":
            self.active[row["incident_id"]] -= 1
            self.rows[row["dedup_key"]] = None
        row["status"] = status
        if id(row) not in self.tracked_rows:
            self.changed_rows.append(row)
            self.tracked_rows.add(id(row))

    def _raised(self, incident: Incident, before: int, cause: CloudEvent) -> None:
        if len(incident.events) > before:
            self.raised.append((incident.id, incident.events[before:], cause))
            self.dirty.add(incident.id)

    async def _storm_incident(self, alert: AlertReceived) -> Incident | None:
        await self.write()
        since = alert.received_at - timedelta(seconds=alert.storm_window_seconds)
        incident_id = await self.alerts.storm_incident(alert.group_key, since)
        if incident_id is None:
            return None
        if incident_id not in self.known:
            self.known.update(await self.incidents.get_many([incident_id], for_update=True))
            self.active.update(await self.alerts.active_counts([incident_id]))
        incident = self.known[incident_id]
        return incident if incident.is_open else None

    async def write(self) -> None:
        changed = [self.known[i] for i in sorted(self.dirty)]
        # Updates before inserts: a resolved incident or alert must leave its "one open per key"
        # slot before this run's next episode of the same alert takes it.
        await self.incidents.save_many([i for i in changed if i.id not in self.fresh])
        await self.incidents.add_many([self.known[i] for i in sorted(self.fresh)])
        await self.incidents.add_activity_many([(i.id, i.activity) for i in changed])
        await self.alerts.save_many(self.changed_rows)
        await self.alerts.add_many(self.new_rows)
        last_moves = {}
        for incident_id, events, _cause in self.raised:
            if (move := _last_move(events)) is not None:
                last_moves[incident_id] = move
        await self.outbox.add_many(self.incidents.session, self.raised)
        for incident in changed:
            incident.activity.clear()
            incident.events.clear()
        self.fresh, self.dirty, self.new_rows, self.changed_rows, self.raised = set(), set(), [], [], []
        self.tracked_rows = set()
        leaders = [i for i in last_moves if _may_lead(self.known[i])]
        for incident_id in sorted(await self.incidents.with_children(leaders)):
            await _children_follow(self.incidents, self.outbox, self.known[incident_id], last_moves[incident_id])


async def receive_alerts(session: AsyncSession, outbox: Outbox,
                         alerts: list[tuple[CloudEvent, AlertReceived]]) -> None:
    """Open, deduplicate onto, acknowledge or clear the incidents a run of alerts is about, in their order."""
    run = _AlertRun(session, outbox, await PriorityMatrixRepository(session).get())
    await run.load([alert for _, alert in alerts])
    for cause, alert in alerts:
        await run.apply(cause, alert)
    await run.write()


__all__ = ["StaleVersion", "add_comment", "add_work_note", "auto_close_due", "change_state", "open_incident",
           "priority_matrix", "receive_alerts", "resolve_incident", "set_priority_matrix", "update_incident"]
