"""Use cases: request a change, edit it, move it, decide on it (each stored with its events); read changes."""

from __future__ import annotations

# risk (issue 15)
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from itsm_contracts import CloudEvent
from itsm_contracts.api.changes import ChangeUpdate
from itsm_contracts.events.requests import WorkOrderApplied
from itsm_kit.work_orders import checked_by
from itsm_contracts.events.incidents import IncidentOpened, IncidentPriorityChanged, IncidentStateChanged
from itsm_kit.cmdb_copy import BUSINESS_SERVICE, CiRepository, Work
from itsm_changes.domain import (
    FAILED_CHANGES_LOOKBACK_DAYS, OPEN_INCIDENT_PRIORITIES, RISK_ASSESSED_IN, RiskFactor, RiskLevel,
    SuspectedIncident, assess_risk, in_business_hours, suspected_within,
)
from itsm_changes.store import IncidentCopy, RiskReads

import uuid
from datetime import datetime
from typing import Any

import hashlib  # noqa: I001  schedule (issue 15)
import secrets
from collections.abc import Callable, Mapping

from sqlalchemy import text

from itsm_kit.errors import Problem
from itsm_changes.domain import (
    HOLDS_ITS_WINDOW, MAX_WINDOW, ON_THE_CALENDAR, ChangeWindow, Related, WindowKind, conflicts_between, mirrored,
)
from itsm_changes.store import (
    ChangeWindowRepository, add_feed, change_by_deployment, changes_holding_window, changes_in_period, feed_by_hash,
    feeds_of, lock_schedule, related_cis, revoke_feed,
)
from itsm_kit.clock import utcnow
from itsm_kit.domain import SYSTEM, Conflict, InvalidValue
from itsm_kit.errors import check_version, found
from itsm_kit.records import apply, remove, revise
from itsm_kit.unit_of_work import UnitOfWork
from itsm_changes.domain import (
    ApprovalPolicy, ChangeRequest, ChangeTemplate, State, policy_for,
)
from itsm_changes.store import (
    ApprovalPolicyRepository, ChangeRepository, ChangeTemplateRepository, change_activity_page,
)


async def request_change(uow: UnitOfWork, *, short_description: str | None, description: str | None,
                         change_type: str, planned_start: datetime | None, planned_end: datetime | None,
                         requested_by: str = SYSTEM, assignee: str | None = None, assignment_group: str | None = None,
                         affected_cis: list[str] | None = None, template_id: str | None = None,
                         implementation_plan: str | None = None, backout_plan: str | None = None,
                         test_plan: str | None = None, blackout_reason: str | None = None) -> ChangeRequest:
    async with uow:
        repo = ChangeRepository(uow.session)
        template = None
        if template_id is not None:
            template = await ChangeTemplateRepository(uow.session).get(template_id)
            if template is None:
                raise InvalidValue(f"there is no change template {template_id}", template_id=template_id)
        change = ChangeRequest.request(
            id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description or "",
            description=description or "", change_type=change_type, planned_start=planned_start,
            planned_end=planned_end, at=utcnow(), requested_by=requested_by, assignee=assignee,
            assignment_group=assignment_group, affected_cis=affected_cis or [], template=template,
            implementation_plan=implementation_plan, backout_plan=backout_plan, test_plan=test_plan,
            blackout_reason=blackout_reason,  # schedule (issue 15)
        )
        await repo.add(change)
        uow.add(change)
        await uow.commit()
    return change


async def update_change(uow: UnitOfWork, change_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                        if_match: int | None = None) -> ChangeRequest:
    return await apply_scheduled(uow, change_id, if_match,  # schedule (issue 15): blackouts, conflicts
                                 lambda change: change.update(changes, utcnow(), actor=actor), wanted=changes)


async def move_change(uow: UnitOfWork, change_id: str, *, state: State, reason: str | None = None,
                      actor: str = SYSTEM, if_match: int | None = None) -> ChangeRequest:
    return await apply_scheduled(uow, change_id, if_match,  # schedule (issue 15): blackouts, conflicts
                                 lambda change: change.move_to(state, utcnow(), actor=actor, reason=reason))


async def decide_change(uow: UnitOfWork, change_id: str, *, decision: str, comment: str | None = None,
                        actor: str = SYSTEM, if_match: int | None = None) -> ChangeRequest:
    """Decided for the approval group of the policy for the change's type and risk (as rated when deciding)."""
    async with uow:
        await lock_schedule(uow.session)  # schedule (issue 15): before the change's lock, as apply_scheduled
        repo = ChangeRepository(uow.session)
        change = found(await repo.get(change_id, for_update=True), repo.noun, change_id)
        check_version(repo.noun, change_id, change.version, if_match)
        await load_blackouts(uow, change, {})  # schedule (issue 15)
        policies = await ApprovalPolicyRepository(uow.session).all(change_type=change.change_type)
        # The risk is the risk assessment's (may be unrated: then the policy for any risk applies).
        policy = policy_for(policies, change.change_type, getattr(change, "risk", None))
        loaded = change.version
        change.decide(decision, comment, utcnow(), actor=actor, policy=policy)
        await repo.save(change, loaded)
        uow.add(change)
        await reconcile_conflicts(uow, change)  # schedule (issue 15)
        await uow.commit()
    return change


async def get_change(uow: UnitOfWork, change_id: str) -> ChangeRequest:
    async with uow:
        return found(await ChangeRepository(uow.session).get(change_id), "change request", change_id)


async def search_changes(uow: UnitOfWork, q: str, *, limit: int) -> list[dict[str, Any]]:
    """The changes `q` finds best, best first (search that ranks, issue 18)."""
    async with uow:
        return await ChangeRepository(uow.session).search(q, limit=limit)


async def list_changes(uow: UnitOfWork, *, limit: int, cursor: str | None,
                       **where: Any) -> tuple[list[ChangeRequest], str | None]:
    """Newest first, filtered by `where` (ChangeRepository.page's filters); the page and the next page's cursor."""
    async with uow:
        return await ChangeRepository(uow.session).page(limit=limit, cursor=cursor, **where)


# -- lifecycle (issue 15): closing, the timeline, templates and approval policies (admins, via the gateway) ----

async def close_change(uow: UnitOfWork, change_id: str, *, close_code: str, close_notes: str, actor: str = SYSTEM,
                       if_match: int | None = None) -> ChangeRequest:
    return await apply(uow, ChangeRepository, change_id, if_match,
                       lambda change: change.close(close_code, close_notes, utcnow(), actor=actor))


async def change_activity(uow: UnitOfWork, change_id: str, *, limit: int, cursor: str | None
                          ) -> tuple[list[dict], str | None]:
    """The change's timeline, newest first; a 404 for a change that does not exist."""
    async with uow:
        found(await ChangeRepository(uow.session).get(change_id), "change request", change_id)
        return await change_activity_page(uow.session, change_id, limit=limit, cursor=cursor)


async def list_templates(uow: UnitOfWork, *, active: bool | None = None) -> list[ChangeTemplate]:
    async with uow:
        return await ChangeTemplateRepository(uow.session).all(active=active)


async def get_template(uow: UnitOfWork, template_id: str) -> ChangeTemplate:
    async with uow:
        return found(await ChangeTemplateRepository(uow.session).get(template_id), "change template", template_id)


async def create_template(uow: UnitOfWork, *, actor: str = SYSTEM, **fields: Any) -> ChangeTemplate:
    async with uow:
        repo = ChangeTemplateRepository(uow.session)
        template = ChangeTemplate.create(id=str(uuid.uuid4()), at=utcnow(), actor=actor, **fields)
        await _unique_template_name(repo, template)
        await repo.add(template)
        await uow.commit()
    return template


async def update_template(uow: UnitOfWork, template_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                          if_match: int | None = None) -> ChangeTemplate:
    return await revise(uow, ChangeTemplateRepository, template_id, if_match,
                        lambda template: template.update(changes, utcnow(), actor=actor),
                        before_save=_unique_template_name)


async def _unique_template_name(repo: ChangeTemplateRepository, template: ChangeTemplate) -> None:
    if await repo.holder(template) is not None:
        raise Conflict(f"there is already a change template named {template.name}", name=template.name)


async def list_policies(uow: UnitOfWork, *, change_type: str | None = None) -> list[ApprovalPolicy]:
    async with uow:
        return await ApprovalPolicyRepository(uow.session).all(change_type=change_type)


async def get_policy(uow: UnitOfWork, policy_id: str) -> ApprovalPolicy:
    async with uow:
        return found(await ApprovalPolicyRepository(uow.session).get(policy_id), "approval policy", policy_id)


async def create_policy(uow: UnitOfWork, *, actor: str = SYSTEM, **fields: Any) -> ApprovalPolicy:
    async with uow:
        repo = ApprovalPolicyRepository(uow.session)
        policy = ApprovalPolicy.create(id=str(uuid.uuid4()), at=utcnow(), actor=actor, **fields)
        if any(p.risk is policy.risk for p in await repo.all(change_type=policy.change_type)):
            raise Conflict(f"there is already an approval policy for {policy.change_type} changes of risk "
                           f"{policy.risk}: change that one", change_type=policy.change_type, risk=policy.risk)
        await repo.add(policy)
        await uow.commit()
    return policy


async def update_policy(uow: UnitOfWork, policy_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                        if_match: int | None = None) -> ApprovalPolicy:
    return await revise(uow, ApprovalPolicyRepository, policy_id, if_match,
                        lambda policy: policy.update(changes, utcnow(), actor=actor))


async def delete_policy(uow: UnitOfWork, policy_id: str, *, if_match: int | None = None) -> None:
    await remove(uow, ApprovalPolicyRepository, policy_id, if_match)


# -- risk (issue 15): assessed from the CMDB and incident copies; reassessed from their events; suspected incidents --

@dataclass(frozen=True)
class RiskPolicy:
    """The settings risk and "possibly caused by" read (ChangesSettings)."""

    timezone: str = "UTC"
    suspect_window: timedelta = timedelta(hours=24)

    @classmethod
    def of(cls, settings: Any) -> RiskPolicy:
        return cls(timezone=settings.business_hours_timezone,
                   suspect_window=timedelta(hours=settings.suspect_window_hours))


async def _risk_of(session: Any, change: ChangeRequest, policy: RiskPolicy) -> tuple[RiskLevel, list[RiskFactor]]:
    """The change's risk from what the copies hold now: the CIs depending on its CIs (business services, critical
    CIs), failed changes on its CIs, open P1/P2 incidents on its CIs or their dependants, its window."""
    affected = change.affected_cis
    dependants = await CiRepository(session).dependants_of(affected)
    names = {d["id"]: d["name"] or d["id"] for d in dependants}
    failed = await RiskReads(session).failed_on(
        affected, utcnow() - timedelta(days=FAILED_CHANGES_LOOKBACK_DAYS), other_than=change.id)
    incidents = await IncidentCopy(session).open_on(sorted(names), OPEN_INCIDENT_PRIORITIES)
    found: dict[str, list[str]] = {
        "business_services": [d["name"] for d in dependants if d["ci_class"] == BUSINESS_SERVICE],
        "critical_cis": [d["name"] for d in dependants if d["criticality"] == 1 and d["ci_class"] != BUSINESS_SERVICE],
        "failed_changes": [f"{f['number']} ({f['close_code'].replace('_', ' ')})" for f in failed],
    }
    for priority in OPEN_INCIDENT_PRIORITIES:
        found[f"open_p{priority}_incidents"] = [f"{i['number'] or i['id']} on {names.get(i['affected_ci'])}"
                                                for i in incidents if i["priority"] == priority]
    if in_business_hours(change.planned_start, change.planned_end, policy.timezone):
        found["business_hours"] = [f"{change.planned_start:%a %Y-%m-%d %H:%M} to {change.planned_end:%a %Y-%m-%d %H:%M}"
                                   f" UTC ({policy.timezone} business hours)"]
    if change.planned_start is not None and change.planned_end is not None:
        windows = await ChangeWindowRepository(session).overlapping(
            kind=WindowKind.BLACKOUT, start=change.planned_start, end=change.planned_end)
        found["freeze"] = [f"{w.name} ({w.start:%Y-%m-%d %H:%M} to {w.end:%Y-%m-%d %H:%M} UTC)" for w in windows
                           if w.covers(change.planned_start, change.planned_end, affected)]
    return assess_risk(found)


async def _reassess(uow: UnitOfWork, change: ChangeRequest, policy: RiskPolicy) -> bool:
    level, factors = await _risk_of(uow.session, change, policy)
    return change.assess(level, factors, utcnow())


async def assess_new_change(uow: UnitOfWork, change: ChangeRequest, policy: RiskPolicy) -> None:
    """A change being requested (in the uow, before it is added): its first assessment."""
    await _reassess(uow, change, policy)


async def assess_risk_now(uow: UnitOfWork, change_id: str, policy: RiskPolicy) -> ChangeRequest:
    """POST /changes/{id}/risk: recomputed from what the copies hold now (before approval only)."""
    async with uow:
        repo = ChangeRepository(uow.session)
        await RiskReads(uow.session).serialize()
        change = found(await repo.get(change_id, for_update=True), repo.noun, change_id)
        change.check_risk_assessable()
        loaded = change.version
        if await _reassess(uow, change, policy):
            await repo.save(change, loaded)
            uow.add(change)
            await uow.commit()
    return change


# What a PATCH changes that the risk depends on.
RISK_INPUTS = frozenset({"affected_cis", "planned_start", "planned_end"})


async def reassess_after_update(uow: UnitOfWork, change: ChangeRequest, changes: dict[str, Any],
                                policy: RiskPolicy) -> ChangeRequest:
    """After a PATCH naming affected CIs or the window: reassessed (before approval), in its own transaction."""
    if RISK_INPUTS.isdisjoint(changes) or change.state not in RISK_ASSESSED_IN:
        return change
    return await assess_risk_now(uow, change.id, policy)


async def _reassess_on(uow: UnitOfWork, touched: set[str], policy: RiskPolicy, cause: CloudEvent | None) -> None:
    """Changes awaiting approval whose CIs are, or are depended on by, the touched CIs: reassessed."""
    reads = RiskReads(uow.session)
    if not touched or not await reads.any_awaiting_approval():
        return
    await reads.serialize()
    below = [d["id"] for d in await CiRepository(uow.session).dependencies_of(sorted(touched))]
    repo = ChangeRepository(uow.session)
    for change in (await repo.get_many(await reads.awaiting_approval_on(below), for_update=True)).values():
        loaded = change.version
        if await _reassess(uow, change, policy):
            await repo.save(change, loaded)
            uow.add(change)
            uow.caused_by(cause)


def cmdb_changed(policy: RiskPolicy) -> Work:
    """After the CMDB copy took a run: changes awaiting approval on the CIs it touched are reassessed."""
    async def then(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
        touched = {ci for _, d in run for ci in (getattr(d, "ci_id", None), getattr(d, "source_id", None),
                                                   getattr(d, "target_id", None)) if ci}
        async with uow:
            await _reassess_on(uow, touched, policy, run[-1][0] if run else None)
            await uow.commit()
    return then


async def incidents_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]], policy: RiskPolicy) -> None:
    """itsm.incidents, in order: the incident copy kept current; changes awaiting approval on the incidents' CIs
    reassessed; an incident opened on a changed CI (or one depending on it) soon after implementation suspected.
    A few statements per run, whatever its size: the CIs named looked up at once, the copy's rows read once, the
    run folded as its events one at a time would have left the copy, then written in two statements."""
    async with uow:
        copy = IncidentCopy(uow.session)
        steps: list[tuple[CloudEvent, Any, dict[str, Any]]] = []  # each event that writes the copy, with its fields
        for event, data in run:
            if isinstance(data, IncidentOpened):
                steps.append((event, data, {
                    "id": data.incident_id, "number": data.number, "affected_ci": data.affected_ci,
                    "priority": data.priority, "state": data.state, "opened_at": data.opened_at,
                    "sequence": event.sequence}))
            elif values := _incident_changes(data):
                steps.append((event, data, values))
        ci_ids = await _ci_ids(CiRepository(uow.session), [v["affected_ci"] for _, _, v in steps if "affected_ci" in v])
        for _, _, values in steps:
            if "affected_ci" in values:
                values["affected_ci"] = ci_ids.get(values["affected_ci"])
        kept = await copy.kept([data.incident_id for _, data, _ in steps])
        added, changed, touched = _folded(kept, steps)
        await copy.add(added)
        await copy.change(changed)
        opened = [(event, data, values["affected_ci"]) for event, data, values in steps
                  if isinstance(data, IncidentOpened)]
        await _reassess_on(uow, touched, policy, run[-1][0] if run else None)
        await _suspect(uow, opened, policy)
        await uow.commit()


async def _ci_ids(cis: CiRepository, refs: list[Any]) -> dict[Any, str]:
    """For each CI reference an incident gives: the CMDB id of the CI it names (by id or name), else the reference
    as given; one statement. A reference left out (none, or empty) is no CI."""
    refs = [ref for ref in refs if ref]
    return {**{ref: ref for ref in refs}, **await cis.find_ids(refs)}


def _folded(kept: dict[str, tuple[str | None, int]], steps: list[tuple[CloudEvent, Any, dict[str, Any]]]
            ) -> tuple[list[dict[str, Any]], list[tuple[str, int, dict[str, Any]]], set[str]]:
    """What a run's events, applied to the copy one at a time (a row added once, a change only if newer than the
    row), would write: the new rows as opened, then each changed row's newest fields and sequence once; and the CIs
    each event found its incident on and left it on (before and after a move: those whose changes are reassessed).
    `kept`: the copy's CI and sequence of the run's incidents before it."""
    rows = {incident_id: {"affected_ci": ci, "sequence": sequence} for incident_id, (ci, sequence) in kept.items()}
    added: dict[str, dict[str, Any]] = {}
    changed: dict[str, dict[str, Any]] = {}
    touched: set[str] = set()

    def note(incident_id: str) -> None:
        if (row := rows.get(incident_id)) is not None and row["affected_ci"] is not None:
            touched.add(row["affected_ci"])

    for event, data, values in steps:
        incident_id = data.incident_id
        if isinstance(data, IncidentOpened):
            if incident_id not in rows:  # a replay of one the copy has stays as it is
                added[incident_id], rows[incident_id] = values, dict(values)
        else:
            note(incident_id)  # where it was (before a move)
            row = rows.get(incident_id)
            if row is not None and row["sequence"] < event.sequence:
                row.update(values, sequence=event.sequence)
                changed.setdefault(incident_id, {}).update(values, sequence=event.sequence)
        note(incident_id)
    return (list(added.values()),
            [(incident_id, fields.pop("sequence"), fields) for incident_id, fields in changed.items()], touched)


def _incident_changes(data: Any) -> dict[str, Any]:
    if isinstance(data, IncidentPriorityChanged):
        return {"priority": data.to_priority}
    if isinstance(data, IncidentStateChanged):
        return {"state": data.to_state}
    return {name: data.changes[name] for name in ("affected_ci", "priority") if name in data.changes
            and (name == "affected_ci" or data.changes[name] is not None)}


async def _suspect(uow: UnitOfWork, opened: list[tuple[CloudEvent, IncidentOpened, str | None]],
                   policy: RiskPolicy) -> None:
    """Each opened incident, in the run's order, suspected on the changes to its CI or one it depends on implemented
    within the window before it opened. Read for the run at once (the CIs' dependencies, the changes implemented
    in the run's windows, those changes locked); each change written once."""
    on_cis = [(event, data, ci) for event, data, ci in opened if ci is not None]
    if not on_cis:
        return
    reads, repo = RiskReads(uow.session), ChangeRepository(uow.session)
    below = await CiRepository(uow.session).dependencies_each([ci for _, _, ci in on_cis])
    window = policy.suspect_window
    implemented = await reads.implemented_between(sorted(set().union(*below.values())),
                                                  min(d.opened_at for _, d, _ in on_cis) - window,
                                                  max(d.opened_at for _, d, _ in on_cis))
    # Each incident's changes: touching its CI or one it depends on, implemented in its window (by id).
    suspects = [(event, data, ci, [c["id"] for c in implemented if not below[ci].isdisjoint(c["affected_cis"])
                                   and data.opened_at - window <= c["implemented_at"] <= data.opened_at])
                for event, data, ci in on_cis]
    changes = await repo.get_many({i for *_, ids in suspects for i in ids}, for_update=True)
    loaded = {change.id: change.version for change in changes.values()}
    for event, data, ci, ids in suspects:
        for change in (changes[i] for i in ids if i in changes):
            if not suspected_within(change.implemented_at, data.opened_at, window):
                continue
            if change.suspect(SuspectedIncident(incident_id=data.incident_id, number=data.number, affected_ci=ci,
                                                opened_at=data.opened_at), utcnow()):
                uow.add(change)
                uow.caused_by(event)
    await repo.save_many([c for c in changes.values() if c.version != loaded[c.id]])  # locked above


async def success_rate(uow: UnitOfWork, by: str) -> list[dict[str, Any]]:
    """Closed changes' close codes per CI, assignment group or change type, lowest success rate first."""
    async with uow:
        rows = await RiskReads(uow.session).success_rate(by)
    for row in rows:
        row["success_rate"] = round(row["successful"] / row["closed"], 4) if row["closed"] else 0.0
    return sorted(rows, key=lambda r: (r["success_rate"], -r["closed"], r["key"]))


# -- schedule (issue 15): blackouts refuse, conflicts warn; windows, the calendar, feeds, deployments ----------

async def apply_scheduled(uow: UnitOfWork, change_id: str, if_match: int | None,
                          command: Callable[[ChangeRequest], None], *, wanted: Mapping[str, Any] | None = None
                          ) -> ChangeRequest:
    """records.apply for a command that may schedule a change or move its window: the blackouts around its window
    (`wanted`: a PATCH's new values) loaded for the command's rule, then its conflicts reconciled."""
    async with uow:
        await lock_schedule(uow.session)
        repo = ChangeRepository(uow.session)
        change = found(await repo.get(change_id, for_update=True), repo.noun, change_id)
        check_version(repo.noun, change_id, change.version, if_match)
        await load_blackouts(uow, change, wanted or {})
        loaded = change.version
        command(change)
        if change.version != loaded:
            await repo.save(change, loaded)
            uow.add(change)
            await reconcile_conflicts(uow, change)
            await uow.commit()
    return change


async def load_blackouts(uow: UnitOfWork, change: ChangeRequest, wanted: Mapping[str, Any]) -> None:
    """The blackouts overlapping the change's window, now or as `wanted` sets it, for the scheduling rule."""
    starts = [t for t in (change.planned_start, wanted.get("planned_start")) if t is not None]
    ends = [t for t in (change.planned_end, wanted.get("planned_end")) if t is not None]
    if starts and ends:
        change.blackouts = tuple(await ChangeWindowRepository(uow.session).overlapping(
            kind=WindowKind.BLACKOUT, start=min(starts), end=max(ends)))


async def reconcile_conflicts(uow: UnitOfWork, change: ChangeRequest) -> None:
    """The change's conflicts computed afresh (none unless it holds its window), and each other change it now
    collides with, or did before, told the same (both list it). Call it holding lock_schedule and the change's lock,
    after the change was saved: what it changes is written here (uow.add the change before it, as for the command)."""
    repo, at = ChangeRepository(uow.session), utcnow()
    others: dict[str, ChangeRequest] = {}
    related = Related()
    if change.state in HOLDS_ITS_WINDOW and change.planned_start and change.planned_end and change.affected_cis:
        related = await related_cis(uow.session, change.affected_cis)
        near = set(change.affected_cis).union(*related.dependents.values(), *related.dependencies.values())
        ids = await changes_holding_window(uow.session, start=change.planned_start, end=change.planned_end,
                                           cis=sorted(near), states=sorted(HOLDS_ITS_WINDOW), excluding=change.id)
        others = await repo.get_many(ids, for_update=True)
    found_now = conflicts_between(change, others.values(), related)
    before, version = {c["change_id"] for c in change.conflicts}, change.version
    change.note_conflicts(found_now, at)
    touched = before | {c["change_id"] for c in found_now}
    missing = touched - set(others)
    others |= await repo.get_many(missing, for_update=True)
    changed = [change] if change.version != version else []  # saved already, before its conflicts: again
    for other_id in sorted(touched):
        other = others.get(other_id)
        if other is None:
            continue
        loaded = other.version
        other.note_conflicts(mirrored([c for c in found_now if c["change_id"] == other_id], change), at,
                             with_change=change.id)
        if other.version != loaded:
            changed.append(other)
            uow.add(other)
    await repo.save_many(changed)  # locked above, under lock_schedule


async def list_windows(uow: UnitOfWork, *, kind: str | None = None, start: datetime | None = None,
                       end: datetime | None = None, limit: int = 200) -> list[ChangeWindow]:
    async with uow:
        return await ChangeWindowRepository(uow.session).overlapping(kind=kind, start=start, end=end, limit=limit)


async def get_window(uow: UnitOfWork, window_id: str) -> ChangeWindow:
    async with uow:
        return found(await ChangeWindowRepository(uow.session).get(window_id), "change window", window_id)


async def create_window(uow: UnitOfWork, *, actor: str = SYSTEM, **fields: Any) -> ChangeWindow:
    async with uow:
        window = ChangeWindow.create(id=str(uuid.uuid4()), at=utcnow(), actor=actor, **fields)
        await ChangeWindowRepository(uow.session).add(window)
        await uow.commit()
    return window


async def update_window(uow: UnitOfWork, window_id: str, changes: dict[str, Any], *,
                        if_match: int | None = None) -> ChangeWindow:
    return await revise(uow, ChangeWindowRepository, window_id, if_match,
                        lambda window: window.update(changes, utcnow()))


async def delete_window(uow: UnitOfWork, window_id: str, *, if_match: int | None = None) -> None:
    await remove(uow, ChangeWindowRepository, window_id, if_match)


async def calendar(uow: UnitOfWork, *, start: datetime, end: datetime
                   ) -> tuple[list[ChangeRequest], list[ChangeWindow]]:
    """What is planned in [start, end): changes on the calendar (scheduled to review) and every window."""
    async with uow:
        planned = await changes_in_period(uow.session, start=start, end=end, states=sorted(ON_THE_CALENDAR))
        windows = await ChangeWindowRepository(uow.session).overlapping(start=start, end=end)
        return planned, windows


def hash_feed_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_feed(uow: UnitOfWork, *, owner: str) -> tuple[dict, str]:
    """A calendar feed key for `owner`: the feed row and the key (shown once; only its hash is kept)."""
    key = "cal_" + secrets.token_urlsafe(32)
    row = {"id": str(uuid.uuid4()), "owner": owner, "key_hash": hash_feed_key(key), "key_prefix": key[:12],
           "created_at": utcnow(), "revoked_at": None}
    async with uow:
        await add_feed(uow.session, row)
        await uow.commit()
    return row, key


async def list_feeds(uow: UnitOfWork, *, owner: str) -> list[dict]:
    async with uow:
        return await feeds_of(uow.session, owner)


async def revoke_calendar_feed(uow: UnitOfWork, feed_id: str, *, owner: str) -> dict:
    async with uow:
        feed = found(await revoke_feed(uow.session, feed_id, owner, utcnow()), "calendar feed", feed_id)
        await uow.commit()
    return feed


async def feed_owner(uow: UnitOfWork, key: str) -> str:
    """Whose active feed the key is; a 404 (the same for unknown and revoked keys) otherwise."""
    async with uow:
        feed = await feed_by_hash(uow.session, hash_feed_key(key))
    if feed is None or feed["revoked_at"] is not None:
        raise Problem(404, "Not Found", "unknown or revoked calendar feed key")
    return feed["owner"]


async def record_deployment(uow: UnitOfWork, *, actor: str, deployment_id: str, ci: str, what: str, version: str,
                            pipeline_url: str | None, started_at: datetime, finished_at: datetime | None,
                            outcome: str | None) -> tuple[ChangeRequest, bool]:
    """A pipeline's deployment as an implemented standard change; (the change, whether it is new). Once per
    deployment id: a repeat returns the change recorded the first time."""
    async with uow:
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:id))"), {"id": deployment_id})
        repo = ChangeRepository(uow.session)
        if (known := await change_by_deployment(uow.session, deployment_id)) is not None:
            return found(await repo.get(known), repo.noun, known), False
        change = ChangeRequest.deployed(
            id=str(uuid.uuid4()), number=await repo.next_number(), deployment_id=deployment_id, ci=ci, what=what,
            version=version, pipeline_url=pipeline_url, started_at=started_at, finished_at=finished_at,
            outcome=outcome, at=utcnow(), actor=actor)
        await repo.add(change)
        uow.add(change)
        await uow.commit()
    return change, True


FEED_PAST, FEED_AHEAD = timedelta(days=31), timedelta(days=335)  # a feed's default period: 366 days around now


def feed_period(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The period an iCalendar feed covers: as asked, else a month back and eleven months ahead; at most 366 days."""
    start = start or (end - FEED_PAST - FEED_AHEAD if end else now - FEED_PAST)
    end = end or start + FEED_PAST + FEED_AHEAD
    if end <= start or end - start > MAX_WINDOW:
        raise InvalidValue(f"a calendar period runs forward, over at most {MAX_WINDOW.days} days")
    return start, end


# -- work orders (issue 17): a work-order template's fields, from itsm.requests -----------------------------------

async def work_orders_applied(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, WorkOrderApplied]]) -> None:
    """Work-order templates applied to changes (their tasks made by the requests service), in the run's order: the
    template's fields set as an agent's PATCH would (ChangeRequest.apply_work_order; none moves the change on the
    calendar, so the schedule's lock is not needed). Other records' templates, and changes this service does not
    have, are skipped."""
    applied_here = [(cause, a) for cause, a in run if a.record_type == "change"]
    if not applied_here:
        return
    async with uow:
        repo = ChangeRepository(uow.session)
        changes = await repo.get_many({a.record_id for _, a in applied_here}, for_update=True)
        changed: dict[str, ChangeRequest] = {}
        loaded = {c.id: c.version for c in changes.values()}
        for cause, applied in applied_here:
            if (change := changes.get(applied.record_id)) is None:
                continue  # a change opened elsewhere (or a test's): nothing here to set
            if change.apply_work_order(applied, utcnow(), check=CHANGE_PATCH_CHECK):
                uow.add(change)
                uow.caused_by(cause)
                if change.version != loaded[change.id]:
                    changed[change.id] = change
        await repo.save_many(list(changed.values()))
        await uow.commit()


CHANGE_PATCH_CHECK = checked_by(ChangeUpdate)  # a template's values are held to what an agent's PATCH is
