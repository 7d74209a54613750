"""Dispatch (issue 17): decisions in the caller's transaction, the rules and group methods admins manage, the dry
run, and what the consumed events keep (open work, CIs, the directory) or cause (incidents and problems dispatched).

For other helpers: `decide(session, facts, group=...)` inside your transaction (round robin's turn moves only if it
commits), or `decide_all(session, [(facts, group), ...])` for several records at once (what they read is read once);
`record_decisions(session, [("task", task_id, decision), ...])` if you want the decisions listed under
GET /dispatch/decisions too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
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
    CompiledRule, Decision, DispatchGroup, DispatchRule, Facts, Member, Method, RecordType, Traits, eligible, pick,
    place, traits_of,
)
from itsm_requests.store.dispatch import (
    RULESETS, Cis, Decisions, Directory, DispatchGroupRepository, DispatchRuleRepository, OpenWork,
)

# -- the decision ---------------------------------------------------------------------------------------------------


class Deciding:
    """One transaction's decisions, in order, as one-by-one decisions would come out, with what they read read once
    for all of them: the rules (their generation), the CIs and requesters the rules look at, the groups' rows (locked
    until the transaction ends, so two replicas never hand out the same round robin turn), their members and, for
    least loaded, the members' open work. Round robin's turns move on in memory and are written once (`finish`);
    work a decision gives counts for the next ones once the caller says so (`counted`)."""

    def __init__(self, session: AsyncSession, *, dry: bool) -> None:
        self.session, self.dry = session, dry
        self.matched: dict[Facts, tuple[CompiledRule | None, int]] = {}
        self.groups: dict[str, DispatchGroup] = {}
        self.members: dict[str, list[Member]] = {}
        self.loads: dict[str, int] = {}  # least loaded's members' open work by weight
        self.turns: dict[str, str] = {}  # round robin: who had each group's last turn in this transaction

    @classmethod
    async def of(cls, session: AsyncSession, wanted: Iterable[tuple[Facts, str | None]], *,
                 dry: bool = False) -> Deciding:
        """Ready for these records ((facts, the group they have or None) each): a few statements, not a few each."""
        deciding = cls(session, dry=dry)
        wanted = list(wanted)
        groups = {group for _, group in wanted if group is not None}
        if unsorted := {facts for facts, group in wanted if group is None}:
            ruleset = await RULESETS.current(session)
            traits = await _traits(session, unsorted, ruleset.uses)
            for facts in unsorted:
                rule, evaluated = deciding.matched[facts] = ruleset.first(traits[facts])
                if rule is not None:
                    groups.add(rule.assignment_group)
        deciding.groups = await DispatchGroupRepository(session).several(groups, for_update=not dry)
        picking = [g.name for g in deciding.groups.values() if g.method is not Method.NONE]
        deciding.members = await Directory(session).members(picking)
        weighed = {m for name in picking if deciding.groups[name].method is Method.LEAST_LOADED
                   for m in eligible(deciding.members[name])}
        deciding.loads = await OpenWork(session).loads(sorted(weighed))
        return deciding

    def decide(self, facts: Facts, group: str | None = None) -> Decision:
        """The group (`group` when the record already has one, else the first matching rule's) and the person the
        group's method picks; `facts` and `group` as given to `of`."""
        rule, evaluated = None, 0
        if group is None:
            rule, evaluated = self.matched[facts]
            if rule is None:
                return Decision(assignment_group=None, rules_evaluated=evaluated)
            group = rule.assignment_group
        settings = self.groups.get(group)
        method = settings.method if settings is not None else Method.NONE
        assignee = None
        if method is not Method.NONE:
            assignee = pick(method, self.members[group], last=self.turns.get(group, settings.last_assignee),
                            loads=self.loads)
            if assignee is not None and method is Method.ROUND_ROBIN and not self.dry:
                self.turns[group] = assignee
        return Decision(assignment_group=group, assignee=assignee, rule=rule.name if rule else None,
                        rule_version=rule.version if rule else None, method=method.value, rules_evaluated=evaluated)

    def counted(self, assignee: str, weight: int) -> None:
        """Work just given to `assignee` weighs in the next decisions (as the open-work row it updates would)."""
        if assignee in self.loads:
            self.loads[assignee] += weight

    async def finish(self) -> None:
        """Each group's last round robin turn written, once."""
        if not self.dry:
            await DispatchGroupRepository(self.session).take_turns(self.turns)


async def decide(session: AsyncSession, facts: Facts, *, group: str | None = None) -> Decision:
    """The group (`group` when the record already has one, else the first matching rule's) and the person the
    group's method picks, in the caller's transaction: the group's row is locked until it ends, so two replicas never
    hand out the same round robin turn, and the turn moves on only if the caller commits."""
    [decision] = await decide_all(session, [(facts, group)])
    return decision


async def decide_all(session: AsyncSession, wanted: Sequence[tuple[Facts, str | None]]) -> list[Decision]:
    """`decide` for several records in order, in the caller's transaction, what they read read once (the records
    given add no open work the later ones weigh: the caller's records are not open work yet)."""
    deciding = await Deciding.of(session, wanted)
    decisions = [deciding.decide(facts, group) for facts, group in wanted]
    await deciding.finish()
    return decisions


async def _traits(session: AsyncSession, facts: Iterable[Facts], uses: frozenset[str]) -> dict[Facts, Traits]:
    """The records' CIs and requesters looked up (each kind in one go), only when some rule looks at them."""
    facts = list(facts)
    cis = (await Cis(session).find_many(f.ci for f in facts if f.ci)
           if uses & {"ci_class", "ci_owner_group"} else {})
    locations = (await Directory(session).locations(f.requester for f in facts if f.requester)
                 if "requester_location" in uses else {})
    traits = {}
    for f in facts:
        ci = cis.get(f.ci) if f.ci else None
        traits[f] = traits_of(f, ci_class=ci["ci_class"] if ci else None,
                              ci_owner_group=ci["owner_group"] if ci else None,
                              requester_location=locations.get(f.requester) if f.requester else None)
    return traits


async def dry_run(uow: UnitOfWork, facts: Facts) -> Decision:
    """What dispatch would decide now; nothing is written, round robin's turn included (the transaction rolls back
    and its group is read without a lock)."""
    async with uow:
        return (await Deciding.of(uow.session, [(facts, None)], dry=True)).decide(facts)


def _decision_row(record_type: str, record_id: str, decision: Decision) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "record_type": record_type, "record_id": record_id,
            "dispatch_rule": decision.rule, "dispatch_rule_version": decision.rule_version,
            "assignment_group": decision.assignment_group, "assignee": decision.assignee, "method": decision.method,
            "decided_at": utcnow()}


async def record_decisions(session: AsyncSession, decided: Sequence[tuple[str, str, Decision]]) -> None:
    """The decisions ((record type, record id, decision) each) kept as they were (a later change to the rule rewrites
    nothing), in one statement."""
    await Decisions(session).add([_decision_row(record_type, record_id, decision)
                                  for record_type, record_id, decision in decided])


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


@dataclass(frozen=True)
class Opened:
    """A record a run opened without an assignee: the event, the record, what the rules see, the group it has."""

    cause: CloudEvent
    record_id: str
    facts: Facts
    group: str | None


async def _dispatch_opened(uow: UnitOfWork, opened: Sequence[Opened]) -> None:
    """Records opened without an assignee, in order: a rule picks the group (when one has none) and the group's
    method the person; each decision is kept and published for the owner to apply. Nothing matched, or a group whose
    method picks nobody: nothing is kept or published (the record stays as it was opened).

    A run costs a few statements whatever its length (the ingest bench opens thousands of incidents a second): what
    the decisions read is read once, and what they write is written at the end, each kind in one statement. Work
    given earlier in the run weighs in the later decisions, as the open-work row it updates would."""
    if not opened:
        return
    session = uow.session
    deciding = await Deciding.of(session, [(o.facts, o.group) for o in opened])
    waiting = (await OpenWork(session).unassigned((o.facts.record_type, o.record_id) for o in opened)
               if deciding.loads else {})
    decisions, given = [], []
    for o in opened:
        decision = deciding.decide(o.facts, o.group)
        if decision.assignment_group is None or (o.group is not None and decision.assignee is None):
            continue
        row = _decision_row(o.facts.record_type, o.record_id, decision)
        decisions.append(row)
        given.append({"record_type": o.facts.record_type, "record_id": o.record_id,
                      "assignment_group": decision.assignment_group, "assignee": decision.assignee})
        weight = waiting.pop((o.facts.record_type, o.record_id), None) if decision.assignee is not None else None
        if weight is not None:  # now someone's: a second decision for the record (a replay) adds nothing
            deciding.counted(decision.assignee, weight)
        uow.add(Dispatched(o.record_id, [(0, RecordDispatched(
            record_type=o.facts.record_type, record_id=o.record_id, assignment_group=decision.assignment_group,
            assignee=decision.assignee, dispatch_rule=decision.rule, dispatch_rule_version=decision.rule_version,
            method=decision.method, decided_at=row["decided_at"]))]))
        uow.caused_by(o.cause)
    await deciding.finish()
    await Decisions(session).add(decisions)
    await OpenWork(session).dispatched(given)


async def incidents_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    whole, changes = _folded(run, RecordType.INCIDENT.value, _incident_work, lambda d: d.incident_id)
    async with uow:
        work = OpenWork(uow.session)
        await work.put(whole)
        await work.change(changes)
        assigned = {d.incident_id for _, d in run if isinstance(d, IncidentAssigned)}  # someone was quicker
        await _dispatch_opened(uow, [
            Opened(event, d.incident_id, Facts(
                record_type=RecordType.INCIDENT.value, category=d.category, business_service=d.business_service,
                ci=d.affected_ci, priority=d.priority, requester=d.caller), d.assignment_group)
            for event, d in run
            if (isinstance(d, IncidentOpened) and d.assignee is None and d.state in OPEN_INCIDENT_STATES
                and d.incident_id not in assigned)])
        await uow.commit()


async def problems_changed(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, Any]]) -> None:
    whole, changes = _folded(run, RecordType.PROBLEM.value, _problem_work, lambda d: d.problem_id)
    async with uow:
        work = OpenWork(uow.session)
        await work.put(whole)
        await work.change(changes)
        assigned = {d.problem_id for _, d in run
                    if isinstance(d, ProblemUpdated) and {"assignee", "assignment_group"} & set(d.changes)}
        await _dispatch_opened(uow, [
            Opened(event, d.problem_id, Facts(record_type=RecordType.PROBLEM.value, priority=d.priority),
                   d.assignment_group)
            for event, d in run
            if isinstance(d, ProblemOpened) and d.assignee is None and d.problem_id not in assigned])
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
