"""Use cases: open the unit of work, load the incidents, apply the command or event, save, commit.

Commands come from the API, events from the consumer (alerts, SLA breaches, the problems'
links and resolutions; the CMDB's changes go to itsm_kit.cmdb_copy), the auto-close job from its schedule.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from itsm_contracts import CloudEvent
from itsm_contracts.api.incidents import IncidentUpdate
from itsm_contracts.events.alerts import AlertReceived
from itsm_contracts.events.external import ExternalRecordAcknowledged, ExternalRecordEvent, ExternalRecordResolved
from itsm_contracts.events.incidents import IncidentStateChanged
from itsm_contracts.events.knowledge import ArticleAttached
from itsm_contracts.events.problems import (
    ProblemIncidentLinked, ProblemIncidentLinkRefused, ProblemKnownErrorPublished, ProblemResolved,
)
from itsm_contracts.events.sla import SlaBreached
from itsm_contracts.events.requests import RecordDispatched, WorkOrderApplied
from itsm_kit.clock import utcnow
from itsm_kit.cmdb_copy import CiRepository
from itsm_kit.dispatch_decisions import decisions_taken
from itsm_kit.domain import SYSTEM, InvalidValue
from itsm_kit.errors import check_version, found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_kit.work_orders import checked_by
from itsm_incidents.domain import (
    AlertDesk, AlertEpisode, Incident, State, breach_note, identity, is_due_for_auto_close, last_state_change,
    leads_children, storm_window_start, valid_matrix,
)
from itsm_incidents.store import AlertRepository, IncidentRepository, PriorityMatrixRepository

log = logging.getLogger(__name__)

# -- commands ---------------------------------------------------------------------------------------


async def _save(uow: UnitOfWork, repo: IncidentRepository, incident: Incident, loaded_version: int | None) -> None:
    """Save the incident (its events and timeline go with the unit of work); then its children follow
    a state change.

    Children move in this same transaction, bending "one aggregate per transaction" on
    purpose: they share the parent's database, and a parent resolved while its children stay
    open (or the reverse) would be a state nobody asked for. Each child's events go out too.
    """
    move = last_state_change(incident.events)
    if loaded_version is None:
        await repo.add(incident)
    else:
        await repo.save(incident, loaded_version)
    uow.add(incident)
    if move is not None and leads_children(incident):
        await _children_follow(uow, repo, incident, move)


async def _children_follow(uow: UnitOfWork, repo: IncidentRepository, parent: Incident,
                           move: IncidentStateChanged) -> None:
    for child in await repo.children(parent.id):
        loaded = child.version
        child.follow(parent, move.changed_at, actor=move.actor or SYSTEM)
        if child.version != loaded:
            await _save(uow, repo, child, loaded)


async def _parent(repo: IncidentRepository, parent_id: str | None) -> Incident | None:
    if parent_id is None:
        return None
    parent = await repo.get(parent_id)
    if parent is None:
        raise InvalidValue(f"the parent incident {parent_id} does not exist")
    return parent


async def open_incident(uow: UnitOfWork, *, actor: str = SYSTEM, parent_id: str | None = None,
                        **fields: Any) -> Incident:
    """A manual incident; `fields` are Incident.open's (short description, impact, caller, ...)."""
    async with uow:
        repo = IncidentRepository(uow.session)
        incident = Incident.open(
            id=str(uuid.uuid4()), number=await repo.next_number(), origin="manual", at=utcnow(), actor=actor,
            parent=await _parent(repo, parent_id), matrix=await PriorityMatrixRepository(uow.session).get(),
            **fields,
        )
        await _save(uow, repo, incident, None)
        await uow.commit()
    return incident


async def _load_for_change(repo: IncidentRepository, incident_id: str, if_match: int | None) -> Incident:
    incident = found(await repo.get(incident_id, for_update=True), "incident", incident_id)
    check_version("incident", incident_id, incident.version, if_match)
    return incident


async def _change(uow: UnitOfWork, incident_id: str, if_match: int | None,
                  command: Callable[[Incident], None]) -> Incident:
    """Load and lock the incident, check If-Match, apply `command`, save what it did."""
    async with uow:
        repo = IncidentRepository(uow.session)
        incident = await _load_for_change(repo, incident_id, if_match)
        loaded = incident.version
        command(incident)
        await _save(uow, repo, incident, loaded)
        await uow.commit()
    return incident


async def resolve_incident(uow: UnitOfWork, incident_id: str, *, code: str, notes: str, actor: str = SYSTEM,
                           if_match: int | None = None) -> Incident:
    return await _change(uow, incident_id, if_match,
                         lambda incident: incident.resolve(code, notes, utcnow(), actor=actor))


async def change_state(uow: UnitOfWork, incident_id: str, *, state: State, hold_reason: str | None = None,
                       comment: str | None = None, actor: str = SYSTEM, reopen_window: timedelta | None = None,
                       if_match: int | None = None) -> Incident:
    return await _change(uow, incident_id, if_match, lambda incident: incident.move_to(
        state, utcnow(), hold_reason, actor=actor, comment=comment, reopen_window=reopen_window))


async def update_incident(uow: UnitOfWork, incident_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                          if_match: int | None = None) -> Incident:
    async with uow:
        repo = IncidentRepository(uow.session)
        incident = await _load_for_change(repo, incident_id, if_match)
        loaded = incident.version
        parent_id = changes.get("parent_id")
        incident.update(
            changes, utcnow(), actor=actor, matrix=await PriorityMatrixRepository(uow.session).get(),
            parent=await _parent(repo, parent_id),
            has_children=bool(parent_id) and await repo.has_children(incident_id),
        )
        await _save(uow, repo, incident, loaded)
        await uow.commit()
    return incident


async def add_comment(uow: UnitOfWork, incident_id: str, *, text: str, actor: str = SYSTEM) -> Incident:
    """Comments need no If-Match: they change no field a writer could have overwritten."""
    return await _change(uow, incident_id, None, lambda incident: incident.comment(text, utcnow(), actor=actor))


async def add_work_note(uow: UnitOfWork, incident_id: str, *, text: str, actor: str = SYSTEM) -> Incident:
    return await _change(uow, incident_id, None,
                         lambda incident: incident.add_work_note(text, utcnow(), actor=actor))


async def link_to_problem(uow: UnitOfWork, incident_id: str, problem_id: str, *, actor: str = SYSTEM,
                          if_match: int | None = None) -> Incident:
    """The problems service hears of it (itsm.incident.problem_linked) and links it there, or refuses."""
    return await _change(uow, incident_id, if_match,
                         lambda incident: incident.link_to_problem(problem_id, utcnow(), actor=actor))


async def unlink_from_problem(uow: UnitOfWork, incident_id: str, *, actor: str = SYSTEM,
                              if_match: int | None = None) -> Incident:
    return await _change(uow, incident_id, if_match,
                         lambda incident: incident.unlink_from_problem(utcnow(), actor=actor))


async def auto_close_due(uow: UnitOfWork, now: datetime, days: float, batch_size: int = 200) -> int:
    """Close one batch of incidents resolved for more than `days` (never a major one); how many closed.

    Rows another replica is closing are skipped (SKIP LOCKED), so replicas share the work
    and none closes an incident twice. `now` is a parameter so tests can drive the clock.
    """
    after = timedelta(days=days)
    if after <= timedelta(0):
        return 0
    async with uow:
        repo = IncidentRepository(uow.session)
        due = [i for i in await repo.resolved_before(now - after, batch_size) if is_due_for_auto_close(i, now, after)]
        for incident in due:
            loaded = incident.version
            incident.close(now, actor=SYSTEM, automatically=True)
            await _save(uow, repo, incident, loaded)
        await uow.commit()
    return len(due)


async def set_priority_matrix(uow: UnitOfWork, cells: list[tuple[int, int, int]], *, actor: str
                              ) -> tuple[dict[tuple[int, int], int], datetime | None, str | None]:
    """Used by new incidents and by every later change of impact or urgency; open incidents keep their priority.
    Returns the matrix as priority_matrix does."""
    async with uow:
        repo = PriorityMatrixRepository(uow.session)
        await repo.replace(valid_matrix(cells), by=actor, at=utcnow())
        matrix = await repo.get(), *await repo.changed()
        await uow.commit()
    return matrix


# -- queries ----------------------------------------------------------------------------------------


async def list_incidents(uow: UnitOfWork, where: dict[str, Any], *, sort: str, order: str, limit: int,
                         cursor: str | None) -> tuple[list[Incident], str | None]:
    async with uow:
        return await IncidentRepository(uow.session).page(where, sort=sort, order=order, limit=limit, cursor=cursor)


async def search_incidents(uow: UnitOfWork, q: str, *, limit: int, caller: str | None = None) -> list[dict[str, Any]]:
    """The incidents `q` finds best, best first (search that ranks, issue 18); only `caller`'s when given."""
    async with uow:
        return await IncidentRepository(uow.session).search(q, limit=limit, caller=caller)


async def count_incidents(uow: UnitOfWork, where: dict[str, Any]) -> tuple[dict[str, int], dict[int, int]]:
    async with uow:
        return await IncidentRepository(uow.session).counts(where)


async def _existing(repo: IncidentRepository, incident_id: str) -> Incident:
    return found(await repo.get(incident_id), "incident", incident_id)


async def incident_with_ci(uow: UnitOfWork, incident_id: str) -> tuple[Incident, dict | None, list[dict]]:
    """The incident, the CI its affected_ci names and the business services that CI impacts, as this
    service's copy of the CMDB knows them."""
    async with uow:
        incident = await _existing(IncidentRepository(uow.session), incident_id)
        cis = CiRepository(uow.session)
        ci = await cis.find(incident.affected_ci) if incident.affected_ci else None
        return incident, ci, await cis.business_services(ci["id"]) if ci else []


async def activity(uow: UnitOfWork, incident_id: str, *, limit: int, cursor: str | None
                   ) -> tuple[list[dict], str | None]:
    async with uow:
        repo = IncidentRepository(uow.session)
        await _existing(repo, incident_id)
        return await repo.activity(incident_id, limit=limit, cursor=cursor)


async def alerts_of(uow: UnitOfWork, incident_id: str) -> list[AlertEpisode]:
    async with uow:
        await _existing(IncidentRepository(uow.session), incident_id)
        return await AlertRepository(uow.session).of(incident_id)


async def priority_matrix(uow: UnitOfWork) -> tuple[dict[tuple[int, int], int], datetime | None, str | None]:
    async with uow:
        repo = PriorityMatrixRepository(uow.session)
        return await repo.get(), *await repo.changed()


# -- events -----------------------------------------------------------------------------------------


async def receive_alerts(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, AlertReceived]]) -> None:
    """Open, deduplicate onto, acknowledge or clear the incidents a run of alerts is about, in their order."""
    alerts = [alert for _, alert in run]
    async with uow:
        incidents, episodes = IncidentRepository(uow.session), AlertRepository(uow.session)
        ongoing = await episodes.active(identity(a) for a in alerts)
        storm = await episodes.active_in_groups(_storm_windows(alerts))
        ended = await episodes.ended_at_source((identity(a), a.starts_at) for a in alerts
                                               if a.status == "firing" and a.starts_at is not None)
        on = sorted({e.incident_id for e in (*ongoing, *storm)})
        desk = AlertDesk(episodes=ongoing, storm_episodes=storm, ended=ended,
                         active_alerts=await episodes.active_counts(on),
                         incidents=await incidents.get_many(on, for_update=True), new_id=lambda: str(uuid.uuid4()),
                         matrix=await PriorityMatrixRepository(uow.session).get())
        numbers = iter(await incidents.next_numbers(desk.opens_at_most(alerts)))
        moves: dict[str, IncidentStateChanged] = {}
        for cause, alert in run:
            if (incident := desk.receive(alert, numbers)) is not None:
                if (move := last_state_change(incident.events)) is not None:
                    moves[incident.id] = move
                uow.add(incident)
                uow.caused_by(cause)
        # Updates before inserts: a resolved incident or episode leaves its "one open per key" slot
        # before this run's next episode of the same alert takes it.
        await incidents.save_many(list(desk.changed.values()))
        await incidents.add(*desk.opened.values())
        await uow.flush()  # the timeline rows name the incidents just written
        await episodes.save(desk.moved.values(), desk.begun.values())
        leaders = [i for i in moves if leads_children(desk.incidents[i])]
        for incident_id in sorted(await incidents.with_children(leaders)):
            await _children_follow(uow, incidents, desk.incidents[incident_id], moves[incident_id])
        await uow.commit()


def _storm_windows(alerts: Iterable[AlertReceived]) -> dict[tuple[str, str], datetime]:
    """Each (integration, group)'s earliest storm window start in the run: what storm candidates to load."""
    since: dict[tuple[str, str], datetime] = {}
    for alert in alerts:
        if (start := storm_window_start(alert)) is not None:
            group = (alert.integration_id, alert.group_key)
            since[group] = min(start, since.get(group, start))
    return since


async def sla_breached(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, SlaBreached]]) -> None:
    """Escalate each breached incident, in the run's order; a breach of an incident this service
    does not have (opened elsewhere, or a test's) changes nothing, nor does a breach of another record's
    timer (a requested item's: its incident_id is empty)."""
    run = [(cause, breach) for cause, breach in run if breach.record_type in (None, "incident")]
    if not run:
        return
    async with uow:
        repo = IncidentRepository(uow.session)
        incidents = await repo.get_many(sorted({b.incident_id for _, b in run}), for_update=True)
        escalated: dict[str, Incident] = {}
        for cause, breach in run:
            if (incident := incidents.get(breach.incident_id)) is None:
                continue
            group = breach.escalation_group if incident.is_open else None
            incident.escalate(breach_note(breach, group), breach.detected_at, group=breach.escalation_group,
                              timer_id=breach.timer_id, kind=breach.kind)
            escalated[incident.id] = incident
            uow.add(incident)
            uow.caused_by(cause)
        await repo.save_many(list(escalated.values()))
        await uow.commit()


async def problem_links_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    """Links, unlinks and refused links of incidents to problems, in the run's order. An incident this service does
    not have (a typo, or one opened elsewhere) is skipped: the problem may name it, this service cannot.

    A link carrying its problem's known error puts the workaround on the incident as a work note (also when the
    incident was linked already: an agent's link here comes back this way, with the known error), unless the
    incident has moved to another problem since."""
    async with uow:
        repo = IncidentRepository(uow.session)
        incidents = await repo.get_many({d.incident_id for _, d in run}, for_update=True)
        changed: dict[str, Incident] = {}
        for cause, link in run:
            if (incident := incidents.get(link.incident_id)) is None:
                log.info("problem link names an unknown incident; skipped",
                         extra={"problem_id": link.problem_id, "incident_id": link.incident_id, "type": cause.type})
                continue
            version, actor = incident.version, link.actor or SYSTEM
            if isinstance(link, ProblemIncidentLinked):
                incident.link_problem(link.problem_id, link.at, actor=actor)
                if link.workaround:
                    incident.note_workaround(link.problem_id, link.known_error_number or link.known_error_id or
                                             link.problem_id, link.workaround, link.at, actor=actor)
            elif isinstance(link, ProblemIncidentLinkRefused):
                incident.problem_refused_link(link.problem_id, link.reason, link.at, actor=actor)
            else:
                incident.unlink_problem(link.problem_id, link.at, actor=actor)
            if incident.version != version:
                changed[incident.id] = incident
                uow.add(incident)
                uow.caused_by(cause)
        await repo.save_many(list(changed.values()))
        await uow.commit()


async def known_errors_published(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, ProblemKnownErrorPublished]]
                                 ) -> None:
    """A published (or revised) known error's workaround goes on each open incident it lists that is still linked
    to its problem, as a work note; one this service does not have is skipped."""
    async with uow:
        repo = IncidentRepository(uow.session)
        incidents = await repo.get_many({i for _, known in run for i in known.incident_ids}, for_update=True)
        changed: dict[str, Incident] = {}
        for cause, known in run:
            for incident_id in sorted(set(known.incident_ids)):
                if (incident := incidents.get(incident_id)) is None:
                    log.info("known error names an unknown incident; skipped",
                             extra={"problem_id": known.problem_id, "known_error_id": known.known_error_id,
                                    "incident_id": incident_id})
                    continue
                if incident.note_workaround(known.problem_id, known.number, known.workaround, known.published_at,
                                            actor=known.actor or SYSTEM):
                    changed[incident.id] = incident
                    uow.add(incident)
            uow.caused_by(cause)
        await repo.save_many(list(changed.values()))
        await uow.commit()


async def problems_resolved(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, ProblemResolved]]) -> None:
    """Resolve the open incidents a resolved problem lists, when it asks for that; their children follow
    as with any resolution. Each incident is read afresh (locked), so one resolved as a child earlier in the
    run is not resolved twice."""
    async with uow:
        repo = IncidentRepository(uow.session)
        for cause, resolved in run:
            if not resolved.resolve_linked_incidents:
                continue
            for incident_id in sorted(set(resolved.incident_ids)):  # id order: the lock order everywhere
                if (incident := await repo.get(incident_id, for_update=True)) is None:
                    log.info("resolved problem names an unknown incident; skipped",
                             extra={"problem_id": resolved.problem_id, "incident_id": incident_id})
                    continue
                loaded = incident.version
                if incident.resolve_by_problem(resolved.problem_id, resolved.resolution_code, resolved.notes,
                                               resolved.resolved_at, actor=resolved.actor or SYSTEM,
                                               number=resolved.number):
                    await _save(uow, repo, incident, loaded)
            uow.caused_by(cause)
        await uow.commit()


# -- connected tools (issue 16: connectors) ------------------------------------------------------------------------


async def external_records(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, ExternalRecordEvent]]) -> None:
    """What people did in a tool mirroring an incident (PagerDuty, Jira; itsm.notifications), in the run's order:
    an acknowledgement moves a new incident in progress, a resolution resolves an open one (its children follow),
    a comment or another status is a work note. The incident stays authoritative: its lifecycle decides, and the
    notifications service never sends the resulting change back to the tool. Other records' events, and incidents
    this service does not have, are skipped."""
    async with uow:
        repo = IncidentRepository(uow.session)
        for cause, told in run:
            if told.record_type != "incident":
                continue
            if (incident := await repo.get(told.record_id, for_update=True)) is None:
                log.info("a connected tool names an unknown incident; skipped",
                         extra={"incident_id": told.record_id, "connector": told.connector, "type": cause.type})
                continue
            loaded, actor = incident.version, told.connector
            if isinstance(told, ExternalRecordAcknowledged):
                incident.acknowledge_in(told.note(), told.at, actor=actor)
            elif isinstance(told, ExternalRecordResolved):
                incident.resolve_in(told.note(), told.at, actor=actor)
            else:
                incident.add_work_note(told.note(), told.at, actor=actor)
            if incident.version != loaded:
                await _save(uow, repo, incident, loaded)
            uow.caused_by(cause)
        await uow.commit()


# -- requests (issue 17): dispatch decisions and work-order templates ---------------------------------------------


async def records_dispatched(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, RecordDispatched]]) -> None:
    """The dispatch rules' decisions for incidents (Incident.take_dispatch says when one is taken)."""
    await decisions_taken(uow, run, record_type="incident", repository=IncidentRepository)


async def work_orders_applied(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, WorkOrderApplied]]) -> None:
    """Work-order templates applied to incidents (their tasks made by the requests service), in the run's order: the
    template's fields set as an agent's PATCH would (Incident.apply_work_order). Other records' templates, and
    incidents this service does not have, are skipped."""
    applied_here = [(cause, a) for cause, a in run if a.record_type == "incident"]
    if not applied_here:
        return
    async with uow:
        repo = IncidentRepository(uow.session)
        incidents = await repo.get_many({a.record_id for _, a in applied_here}, for_update=True)
        matrix = await PriorityMatrixRepository(uow.session).get()
        changed: dict[str, Incident] = {}
        for cause, applied in applied_here:
            if (incident := incidents.get(applied.record_id)) is None:
                log.info("a work order names an unknown incident; skipped", extra={"incident_id": applied.record_id})
                continue
            if incident.apply_work_order(applied, utcnow(), check=PATCH_CHECK, matrix=matrix):
                changed[incident.id] = incident
                uow.add(incident)
                uow.caused_by(cause)
        await repo.save_many(list(changed.values()))
        await uow.commit()


PATCH_CHECK = checked_by(IncidentUpdate)  # a template's values are held to what an agent's PATCH is


# -- knowledge (issue 18): articles attached to incidents ------------------------------------------------------------


async def articles_attached(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, ArticleAttached]]) -> None:
    """An article attached to an incident goes on its timeline (a work note: who attached what, that it helped).
    The knowledge service announces a record's attachment once; the inbox keeps a redelivered one from being noted
    twice. Requests' attachments, and incidents this service does not have, are skipped."""
    attached_here = [(cause, a) for cause, a in run if a.record_type == "incident"]
    if not attached_here:
        return
    async with uow:
        repo = IncidentRepository(uow.session)
        incidents = await repo.get_many({a.record_id for _, a in attached_here}, for_update=True)
        changed: dict[str, Incident] = {}
        for cause, attached in attached_here:
            if (incident := incidents.get(attached.record_id)) is None:
                log.info("an article names an unknown incident; skipped",
                         extra={"incident_id": attached.record_id, "article_id": attached.article_id})
                continue
            incident.note_article(attached.number, attached.title, attached.attached_at,
                                  actor=attached.actor or SYSTEM)
            changed[incident.id] = incident
            uow.add(incident)
            uow.caused_by(cause)
        await repo.save_many(list(changed.values()))
        await uow.commit()
