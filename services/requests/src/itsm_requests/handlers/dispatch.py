"""Dispatch (issue 17): decisions in the caller's transaction, the rules and group methods admins manage, the dry
run, and what the consumed events keep (open work, CIs, the directory) or cause (incidents and problems dispatched).

For other helpers: `decide(session, facts, group=...)` inside your transaction (round robin's turn moves only if it
commits); `record_decision(session, "task", task_id, decision)` if you want the decision listed under
GET /dispatch/decisions too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import CloudEvent
from itsm_contracts.events.cmdb import CiCreated, CiUpdated
from itsm_contracts.events.directory import GroupRemoved, GroupSaved, PersonRemoved, PersonSaved
from itsm_contracts.events.incidents import (
    OPEN_INCIDENT_STATES, IncidentAssigned, IncidentCanceled, IncidentClosed, IncidentOpened, IncidentPriorityChanged,
    IncidentReopened, IncidentResolved, IncidentStateChanged,
)
from itsm_contracts.events.problems import (
    ProblemClosed, ProblemOpened, ProblemResolved, ProblemStateChanged, ProblemUpdated,
)
from itsm_contracts.events.requests import RecordDispatched
from itsm_kit.clock import utcnow
from itsm_kit.domain import SYSTEM, Conflict
from itsm_kit.errors import Problem, check_version, found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_requests.domain.dispatch import (
    Decision, DispatchGroup, DispatchRule, Facts, Method, RecordType, eligible, pick, place, traits_of,
)
from itsm_requests.store.dispatch import (
    RULESETS, Cis, Decisions, Directory, DispatchGroupRepository, DispatchRuleRepository, OpenWork,
)

# -- the decision ---------------------------------------------------------------------------------------------------


async def decide(session: AsyncSession, facts: Facts, *, group: str | None = None) -> Decision:
    """The group (`group` when the record already has one, else the first matching rule's) and the person the
    group's method picks, in the caller's transaction: the group's row is locked until it ends, so two replicas never
    hand out the same round robin turn, and the turn moves on only if the caller commits."""
    return await _decide(session, facts, group=group, dry=False)


async def _decide(session: AsyncSession, facts: Facts, *, group: str | None, dry: bool) -> Decision:
    rule, evaluated = None, 0
    if group is None:
        ruleset = await RULESETS.current(session)
        rule, evaluated = ruleset.first(await _traits(session, facts, ruleset.uses))
        if rule is None:
            return Decision(assignment_group=None, rules_evaluated=evaluated)
        group = rule.assignment_group
    groups = DispatchGroupRepository(session)
    settings = await groups.get(group, for_update=not dry)
    method = settings.method if settings is not None else Method.NONE
    assignee = None
    if method is not Method.NONE:
        members = (await Directory(session).members([group]))[group]
        loads = await OpenWork(session).loads(eligible(members)) if method is Method.LEAST_LOADED else {}
        assignee = pick(method, members, last=settings.last_assignee, loads=loads)
        if assignee is not None and method is Method.ROUND_ROBIN and not dry:
            await groups.take_turn(group, assignee)
    return Decision(assignment_group=group, assignee=assignee, rule=rule.name if rule else None,
                    rule_version=rule.version if rule else None, method=method.value, rules_evaluated=evaluated)


async def _traits(session: AsyncSession, facts: Facts, uses: frozenset[str]):
    """The record's CI and requester looked up, only when some rule looks at them."""
    ci_class = ci_owner_group = location = None
    if facts.ci and uses & {"ci_class", "ci_owner_group"}:
        if (ci := await Cis(session).find(facts.ci)) is not None:
            ci_class, ci_owner_group = ci["ci_class"], ci["owner_group"]
    if facts.requester and "requester_location" in uses:
        location = await Directory(session).location(facts.requester)
    return traits_of(facts, ci_class=ci_class, ci_owner_group=ci_owner_group, requester_location=location)


async def dry_run(uow: UnitOfWork, facts: Facts) -> Decision:
    """What dispatch would decide now; nothing is written, round robin's turn included (the transaction rolls back
    and its group is read without a lock)."""
    async with uow:
        return await _decide(uow.session, facts, group=None, dry=True)


def _decision_row(record_type: str, record_id: str, decision: Decision) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "record_type": record_type, "record_id": record_id,
            "dispatch_rule": decision.rule, "dispatch_rule_version": decision.rule_version,
            "assignment_group": decision.assignment_group, "assignee": decision.assignee, "method": decision.method,
            "decided_at": utcnow()}


async def record_decision(session: AsyncSession, record_type: str, record_id: str, decision: Decision) -> dict:
    """The decision kept, as it was (a later change to the rule rewrites nothing)."""
    row = _decision_row(record_type, record_id, decision)
    await Decisions(session).add([row])
    return row


async def list_decisions(uow: UnitOfWork, **filters: Any) -> tuple[list[dict], str | None]:
    async with uow:
        return await Decisions(uow.session).page(**filters)


# -- rules ----------------------------------------------------------------------------------------------------------


async def list_rules(uow: UnitOfWork) -> list[DispatchRule]:
    async with uow:
        return await DispatchRuleRepository(uow.session).ordered()


async def get_rule(uow: UnitOfWork, rule_id: str) -> DispatchRule:
    async with uow:
        return found(await DispatchRuleRepository(uow.session).get(rule_id), "dispatch rule", rule_id)


async def _unique(repo: DispatchRuleRepository, name: str, besides: str | None = None) -> None:
    if await repo.named(name, besides=besides):
        raise Conflict(f"a dispatch rule named {name!r} exists already")


async def create_rule(uow: UnitOfWork, *, max_rules: int, actor: str = SYSTEM, position: int | None = None,
                      **fields: Any) -> DispatchRule:
    """Placed at `position` (default: last), the rules from there on moving down one."""
    async with uow:
        repo = DispatchRuleRepository(uow.session)
        await repo.changing()
        count = await repo.count()
        if count >= max_rules:
            raise Conflict(f"there are {count} dispatch rules, the most allowed (ITSM_REQUESTS_MAX_DISPATCH_RULES); "
                           "remove one first", max_rules=max_rules)
        rule = DispatchRule.create(id=str(uuid.uuid4()), position=place(position, count + 1), at=utcnow(),
                                   actor=actor, **fields)
        await _unique(repo, rule.name)
        await repo.shift(rule.position, None, +1)
        await repo.add(rule)
        await uow.commit()
    return rule


async def update_rule(uow: UnitOfWork, rule_id: str, changes: Mapping[str, Any], *, actor: str = SYSTEM,
                      if_match: int | None = None) -> DispatchRule:
    """A new version when something changed; a new position moves the rules in between by one."""
    async with uow:
        repo = DispatchRuleRepository(uow.session)
        await repo.changing()  # first, as every rule write: the one lock order
        rule = found(await repo.get(rule_id, for_update=True), "dispatch rule", rule_id)
        check_version("dispatch rule", rule_id, rule.version, if_match)
        loaded, before, named = rule.version, rule.position, rule.name
        if isinstance(changes.get("position"), int):
            changes = {**changes, "position": place(changes["position"], await repo.count())}
        rule.update(changes, utcnow(), actor=actor)
        if rule.version == loaded:
            return rule  # nothing changed: rolled back, the generation with it
        if rule.name != named:
            await _unique(repo, rule.name, besides=rule_id)
        if rule.position < before:
            await repo.shift(rule.position, before - 1, +1)
        elif rule.position > before:
            await repo.shift(before + 1, rule.position, -1)
        await repo.save(rule, loaded)
        await uow.commit()
    return rule


async def delete_rule(uow: UnitOfWork, rule_id: str, *, if_match: int | None = None) -> None:
    """Gone, the rules after it moving up one; the decisions it made keep its name and version."""
    async with uow:
        repo = DispatchRuleRepository(uow.session)
        await repo.changing()
        rule = found(await repo.get(rule_id, for_update=True), "dispatch rule", rule_id)
        check_version("dispatch rule", rule_id, rule.version, if_match)
        await repo.remove(rule_id)
        await repo.shift(rule.position + 1, None, -1)
        await uow.commit()


# -- group methods --------------------------------------------------------------------------------------------------


@dataclass
class GroupShown:
    group: DispatchGroup
    members: list[str] = field(default_factory=list)  # active, in turn order
    created: bool = False


async def list_groups(uow: UnitOfWork) -> list[GroupShown]:
    async with uow:
        groups = await DispatchGroupRepository(uow.session).all()
        members = await Directory(uow.session).members(g.name for g in groups)
    return [GroupShown(g, eligible(members[g.name])) for g in groups]


async def set_group_method(uow: UnitOfWork, name: str, method: str, *, actor: str = SYSTEM,
                           if_match: int | None = None) -> GroupShown:
    """The group's method, its row made on first use (If-Match, when sent, must name the current version)."""
    async with uow:
        repo = DispatchGroupRepository(uow.session)
        group = await repo.get(name, for_update=True)
        created = group is None
        if group is None:
            if if_match is not None:
                raise Problem(412, "Precondition Failed", f"dispatch group {name} has no method yet, so no version")
            group = DispatchGroup.create(name=name, method=method, at=utcnow(), actor=actor)
            await repo.add(group)
        else:
            check_version("dispatch group", name, group.version, if_match)
            loaded = group.version
            group.update({"method": method}, utcnow(), actor=actor)
            if group.version != loaded:
                await repo.save(group, loaded)
        members = (await Directory(uow.session).members([name]))[name]
        await uow.commit()
    return GroupShown(group, eligible(members), created)


# -- consumed events ------------------------------------------------------------------------------------------------

OPEN_PROBLEM_STATES = frozenset({"new", "assess", "root_cause_analysis", "fix_in_progress"})


@dataclass
class Dispatched:
    """The outbox's subject for a decision: the dispatched record (sequence 0: dispatch is no aggregate of theirs)."""

    id: str
    events: list = field(default_factory=list)


def _incident_work(data: Any) -> dict[str, Any] | None:
    if isinstance(data, IncidentOpened):
        return {"assignment_group": data.assignment_group, "assignee": data.assignee, "priority": data.priority,
                "open": data.state in OPEN_INCIDENT_STATES}
    if isinstance(data, IncidentAssigned):
        return {"assignment_group": data.assignment_group, "assignee": data.assignee}
    if isinstance(data, IncidentPriorityChanged):
        return {"priority": data.to_priority}
    if isinstance(data, IncidentStateChanged):
        return {"open": data.to_state in OPEN_INCIDENT_STATES}
    if isinstance(data, IncidentResolved | IncidentClosed | IncidentCanceled):
        return {"open": False}
    if isinstance(data, IncidentReopened):
        return {"open": True}
    return None


def _problem_work(data: Any) -> dict[str, Any] | None:
    if isinstance(data, ProblemOpened):
        return {"assignment_group": data.assignment_group, "assignee": data.assignee, "priority": data.priority,
                "open": True}
    if isinstance(data, ProblemUpdated):
        return {k: v for k, v in data.changes.items() if k in ("assignment_group", "assignee", "priority")} or None
    if isinstance(data, ProblemStateChanged):
        return {"open": data.to_state in OPEN_PROBLEM_STATES}
    if isinstance(data, ProblemResolved | ProblemClosed):
        return {"open": False}
    return None


WHOLE = ("assignment_group", "assignee", "priority", "open")


def _folded(run: Sequence[tuple[CloudEvent, Any]], record_type: str, work_of: Any, id_of: Any
            ) -> tuple[list[dict], list[dict]]:
    """A run's open-work changes, the latest of each field per record: whole records (the run opened them) and
    changes to records opened before."""
    folded: dict[str, dict[str, Any]] = {}
    whole: set[str] = set()
    for event, data in run:
        if (values := work_of(data)) is None:
            continue
        record_id = id_of(data)
        row = folded.setdefault(record_id, {"record_type": record_type, "record_id": record_id, "sequence": 0})
        if event.sequence <= row["sequence"]:
            continue
        row.update(values, sequence=event.sequence)
        if set(WHOLE) <= set(values):
            whole.add(record_id)
    return ([r for k, r in folded.items() if k in whole],
            [r for k, r in folded.items() if k not in whole and len(r) > 3])


async def _dispatch_opened(uow: UnitOfWork, cause: CloudEvent, record_id: str, facts: Facts,
                           group: str | None) -> None:
    """A record opened without an assignee: a rule picks the group (when it has none) and the group's method the
    person; the decision is kept and published for the owner to apply. Nothing matched, or a group whose method
    picks nobody: nothing is kept or published (the record stays as it was opened)."""
    decision = await decide(uow.session, facts, group=group)
    if decision.assignment_group is None or (group is not None and decision.assignee is None):
        return
    row = await record_decision(uow.session, facts.record_type, record_id, decision)
    await OpenWork(uow.session).dispatched(facts.record_type, record_id, decision.assignment_group,
                                           decision.assignee)
    uow.add(Dispatched(record_id, [(0, RecordDispatched(
        record_type=facts.record_type, record_id=record_id, assignment_group=decision.assignment_group,
        assignee=decision.assignee, dispatch_rule=decision.rule, dispatch_rule_version=decision.rule_version,
        method=decision.method, decided_at=row["decided_at"]))]))
    uow.caused_by(cause)


async def incidents_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    whole, changes = _folded(run, RecordType.INCIDENT.value, _incident_work, lambda d: d.incident_id)
    async with uow:
        work = OpenWork(uow.session)
        await work.put(whole)
        await work.change(changes)
        assigned = {d.incident_id for _, d in run if isinstance(d, IncidentAssigned)}  # someone was quicker
        for event, d in run:
            if (isinstance(d, IncidentOpened) and d.assignee is None and d.state in OPEN_INCIDENT_STATES
                    and d.incident_id not in assigned):
                await _dispatch_opened(uow, event, d.incident_id, Facts(
                    record_type=RecordType.INCIDENT.value, category=d.category, business_service=d.business_service,
                    ci=d.affected_ci, priority=d.priority, requester=d.caller), d.assignment_group)
        await uow.commit()


async def problems_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    whole, changes = _folded(run, RecordType.PROBLEM.value, _problem_work, lambda d: d.problem_id)
    async with uow:
        work = OpenWork(uow.session)
        await work.put(whole)
        await work.change(changes)
        assigned = {d.problem_id for _, d in run
                    if isinstance(d, ProblemUpdated) and {"assignee", "assignment_group"} & set(d.changes)}
        for event, d in run:
            if isinstance(d, ProblemOpened) and d.assignee is None and d.problem_id not in assigned:
                facts = Facts(record_type=RecordType.PROBLEM.value, priority=d.priority)
                await _dispatch_opened(uow, event, d.problem_id, facts, d.assignment_group)
        await uow.commit()


async def cis_created(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, CiCreated]]) -> None:
    latest: dict[str, dict] = {}
    for event, d in run:
        if d.ci_id not in latest or event.sequence > latest[d.ci_id]["sequence"]:
            latest[d.ci_id] = {"id": d.ci_id, "name": d.name, "ci_class": d.ci_class, "owner_group": d.owner_group,
                               "sequence": event.sequence}
    async with uow:
        await Cis(uow.session).put(list(latest.values()))
        await uow.commit()


async def cis_updated(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, CiUpdated]]) -> None:
    """A new name or owner group (emptied: null); the other fields the rules do not look at."""
    folded: dict[str, dict] = {}
    for event, d in run:
        changed = {k: v for k, v in d.changes.items() if k == "owner_group" or (k == "name" and v)}
        row = folded.setdefault(d.ci_id, {"id": d.ci_id, "sequence": 0})
        if changed and event.sequence > row["sequence"]:
            row.update(changed, sequence=event.sequence)
    async with uow:
        await Cis(uow.session).change([r for r in folded.values() if len(r) > 2])
        await uow.commit()


async def directory_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    """People and groups, in order; each save is whole, and the newest (by saved_at) wins."""
    async with uow:
        directory = Directory(uow.session)
        for _event, d in run:
            if isinstance(d, PersonSaved):
                await directory.save_person(person_id=d.person_id, username=d.username, name=d.name,
                                            manager=d.manager, location=d.location, active=d.active,
                                            saved_at=d.saved_at)
            elif isinstance(d, PersonRemoved):
                await directory.remove_person(d.person_id, d.removed_at)
            elif isinstance(d, GroupSaved):
                await directory.save_group(group_id=d.group_id, name=d.name, members=d.members, saved_at=d.saved_at)
            elif isinstance(d, GroupRemoved):
                await directory.remove_group(d.group_id, d.removed_at)
        await uow.commit()
