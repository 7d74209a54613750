"""Dispatch's tables: rules (and their generation), group methods, decisions, and the copies dispatch reads (people
and groups from the directory, CIs from the CMDB, open incidents and problems from their events)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.db import UpsertNewer, insert_rows, stored
from itsm_kit.pagination import newest_first, page_of
from itsm_kit.records import AggregateRepository
from itsm_requests.domain.dispatch import (
    DispatchGroup, DispatchRule, Member, Method, RecordType, Ruleset, work_weight,
)
from itsm_requests.domain.tasks import FINISHED
from itsm_requests.store.tables import (
    cis, directory_groups, dispatch_decisions, dispatch_groups, dispatch_rules, dispatch_rules_generation,
    group_members, open_work, people, tasks,
)


class DispatchRuleRepository(AggregateRepository[DispatchRule]):
    table, aggregate, noun = dispatch_rules, DispatchRule, "dispatch rule"

    async def ordered(self) -> list[DispatchRule]:
        query = select(dispatch_rules).order_by(dispatch_rules.c.position, dispatch_rules.c.name)
        return [self.load(r) for r in (await self.session.execute(query)).all()]

    async def count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(dispatch_rules))

    async def changing(self) -> None:
        """Before any write to the rules: a new generation (every process reads the rules again before its next
        decision), and the generation row locked until commit, so that rule writes, which move positions, run one
        at a time."""
        await self.session.execute(update(dispatch_rules_generation).where(dispatch_rules_generation.c.id == 1)
                                   .values(generation=str(uuid.uuid4())))

    async def named(self, name: str, *, besides: str | None = None) -> bool:
        query = select(dispatch_rules.c.id).where(func.lower(dispatch_rules.c.name) == name.lower())
        if besides is not None:
            query = query.where(dispatch_rules.c.id != besides)
        return (await self.session.scalar(query.limit(1))) is not None

    async def shift(self, low: int, high: int | None, by: int) -> None:
        """Positions from low to high (or the end) move by `by`: room for a rule, or a gap closed."""
        condition = dispatch_rules.c.position >= low
        if high is not None:
            condition = and_(condition, dispatch_rules.c.position <= high)
        await self.session.execute(update(dispatch_rules).where(condition)
                                   .values(position=dispatch_rules.c.position + by))


class CompiledRules:
    """The rules each process keeps compiled, per database, with the generation they were read at: one row read per
    transaction that decides (a consumer's run of records, a task's opening) tells whether any process changed them
    since."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[str, Ruleset]] = {}

    async def current(self, session: AsyncSession) -> Ruleset:
        generation = await session.scalar(
            select(dispatch_rules_generation.c.generation).where(dispatch_rules_generation.c.id == 1))
        key = str(session.bind.url)
        kept = self._kept.get(key)
        if kept is not None and generation is not None and kept[0] == generation:
            return kept[1]
        # Read after the generation: a write committing in between makes the next decision read them again.
        ruleset = Ruleset(await DispatchRuleRepository(session).ordered())
        if generation is not None:
            self._kept[key] = (generation, ruleset)
        return ruleset


RULESETS = CompiledRules()


class DispatchGroupRepository(AggregateRepository[DispatchGroup]):
    table, aggregate, noun = dispatch_groups, DispatchGroup, "dispatch group"
    choices = {"method": Method}
    key = "name"

    async def all(self) -> list[DispatchGroup]:
        return [self.load(r) for r in (await self.session.execute(
            select(dispatch_groups).order_by(dispatch_groups.c.name))).all()]

    async def several(self, names: Iterable[str], *, for_update: bool = False) -> dict[str, DispatchGroup]:
        """The groups of these names that have a method, locked in name order (so that two transactions never wait
        for each other's), in one statement."""
        names = sorted(set(names))
        if not names:
            return {}
        query = stored(dispatch_groups).where(dispatch_groups.c.name.in_(names)).order_by(dispatch_groups.c.name)
        rows = await self.session.execute(query.with_for_update() if for_update else query)
        return {r.name: self.load(r) for r in rows.all()}

    async def take_turns(self, turns: Mapping[str, str]) -> None:
        """Round robin's cursor of each group: who had the last turn (not an admin change: the version stays)."""
        if turns:
            await self.session.execute(
                update(dispatch_groups).where(dispatch_groups.c.name == bindparam("b_name"))
                .values(last_assignee=bindparam("b_assignee")),
                [{"b_name": name, "b_assignee": assignee} for name, assignee in sorted(turns.items())])


class Directory:
    """The directory's people and groups as dispatch reads them."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def members(self, groups: Iterable[str]) -> dict[str, list[Member]]:
        """Each group's members the copy knows as people (with whether they are active)."""
        names = sorted(set(groups))
        found: dict[str, list[Member]] = {name: [] for name in names}
        if names:
            rows = await self.session.execute(
                select(group_members.c.group_name, people.c.username, people.c.active)
                .join(people, people.c.username == group_members.c.username)
                .where(group_members.c.group_name.in_(names)))
            for group, username, active in rows.all():
                found[group].append(Member(username, active))
        return found

    async def location(self, username: str) -> str | None:
        return (await self.locations([username])).get(username)

    async def locations(self, usernames: Iterable[str]) -> dict[str, str | None]:
        """Each known person's location, in one statement."""
        names = sorted(set(usernames))
        if not names:
            return {}
        rows = await self.session.execute(select(people.c.username, people.c.location)
                                          .where(people.c.username.in_(names)))
        return dict(rows.all())

    async def save_person(self, *, person_id: str, username: str, name: str, manager: str | None,
                          location: str | None, active: bool, saved_at: datetime) -> None:
        """Unless a newer save is kept; a renamed person's old username goes."""
        await self.session.execute(delete(people).where(people.c.person_id == person_id,
                                                        people.c.username != username, people.c.saved_at <= saved_at))
        values = {"person_id": person_id, "name": name, "manager": manager, "location": location, "active": active,
                  "saved_at": saved_at}
        statement = upsert(people).values(username=username, **values)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[people.c.username], set_=values, where=people.c.saved_at <= statement.excluded.saved_at))

    async def remove_person(self, person_id: str, removed_at: datetime) -> None:
        await self.session.execute(delete(people).where(people.c.person_id == person_id,
                                                        people.c.saved_at <= removed_at))

    async def save_group(self, *, group_id: str, name: str, members: Sequence[str], saved_at: datetime) -> None:
        """The group and its members whole, unless a newer save is kept; a renamed group's old name goes."""
        renamed = (await self.session.execute(
            delete(directory_groups).where(directory_groups.c.group_id == group_id, directory_groups.c.name != name,
                                           directory_groups.c.saved_at <= saved_at)
            .returning(directory_groups.c.name))).scalars().all()
        if renamed:
            await self.session.execute(delete(group_members).where(group_members.c.group_name.in_(renamed)))
        statement = upsert(directory_groups).values(name=name, group_id=group_id, saved_at=saved_at)
        statement = statement.on_conflict_do_update(
            index_elements=[directory_groups.c.name], set_={"group_id": group_id, "saved_at": saved_at},
            where=directory_groups.c.saved_at <= statement.excluded.saved_at)
        applied = (await self.session.execute(statement.returning(directory_groups.c.name))).first()
        if applied is None:
            return
        await self.session.execute(delete(group_members).where(group_members.c.group_name == name))
        if members:
            await self.session.execute(insert(group_members),
                                       [{"group_name": name, "username": m} for m in sorted(set(members))])

    async def remove_group(self, group_id: str, removed_at: datetime) -> None:
        gone = (await self.session.execute(
            delete(directory_groups).where(directory_groups.c.group_id == group_id,
                                           directory_groups.c.saved_at <= removed_at)
            .returning(directory_groups.c.name))).scalars().all()
        if gone:
            await self.session.execute(delete(group_members).where(group_members.c.group_name.in_(gone)))


class Cis:
    """CIs as rules see them: class and owner group."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def find_many(self, refs: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """The CIs records name, by the ref given (those found): by id, else by name when one CI has it; two
        statements at most, however many records."""
        refs = set(refs)
        if not refs:
            return {}
        found = {r.id: r._mapping
                 for r in (await self.session.execute(select(cis).where(cis.c.id.in_(sorted(refs))))).all()}
        if names := refs - set(found):
            named: dict[str, list] = {}
            for row in (await self.session.execute(select(cis).where(cis.c.name.in_(sorted(names))))).all():
                named.setdefault(row.name, []).append(row._mapping)
            found |= {name: rows[0] for name, rows in named.items() if len(rows) == 1}
        return found

    async def put(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Whole CIs (id, name, ci_class, owner_group, sequence), unless a newer one is kept."""
        await _PUT_CIS(self.session, rows)

    async def change(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Some fields of CIs (id, sequence and the fields), unless a newer change is kept; a statement per set of
        fields."""
        by_fields: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for row in rows:
            by_fields.setdefault(tuple(sorted(set(row) - {"id", "sequence"})), []).append(row)
        for fields, same in by_fields.items():
            await self.session.execute(
                update(cis).where(cis.c.id == bindparam("b_id"), cis.c.sequence < bindparam("b_sequence"))
                .values({f: bindparam(f"b_{f}") for f in (*fields, "sequence")}),
                [{f"b_{k}": v for k, v in r.items()} for r in same])


class OpenWork:
    """Open incidents and problems per assignee (from their events) and open tasks (this service's): least loaded
    weighs them."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def loads(self, usernames: Sequence[str]) -> dict[str, int]:
        if not usernames:
            return {}
        loads = dict.fromkeys(usernames, 0)
        records = await self.session.execute(
            select(open_work.c.assignee, open_work.c.record_type, open_work.c.priority, func.count())
            .where(open_work.c.open, open_work.c.assignee.in_(usernames))
            .group_by(open_work.c.assignee, open_work.c.record_type, open_work.c.priority))
        for assignee, record_type, priority, count in records.all():
            loads[assignee] += work_weight(record_type, priority) * count
        open_tasks = await self.session.execute(
            select(tasks.c.assignee, func.count())
            .where(tasks.c.assignee.in_(usernames), tasks.c.state.notin_([s.value for s in FINISHED]))
            .group_by(tasks.c.assignee))
        for assignee, count in open_tasks.all():
            loads[assignee] += work_weight(RecordType.TASK, None) * count
        return loads

    async def put(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Whole records (record_type, record_id, assignment_group, assignee, priority, open, sequence), unless a
        newer event is kept."""
        await _PUT_OPEN_WORK(self.session, rows)

    async def change(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Some fields of records (record_type, record_id, sequence and the fields), unless a newer event is kept."""
        by_fields: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for row in rows:
            by_fields.setdefault(tuple(sorted(set(row) - {"record_type", "record_id", "sequence"})), []).append(row)
        for fields, same in by_fields.items():
            await self.session.execute(
                update(open_work).where(open_work.c.record_type == bindparam("b_record_type"),
                                        open_work.c.record_id == bindparam("b_record_id"),
                                        open_work.c.sequence < bindparam("b_sequence"))
                .values({f: bindparam(f"b_{f}") for f in (*fields, "sequence")}),
                [{f"b_{k}": v for k, v in r.items()} for r in same])

    async def unassigned(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The weight each of these records (record_type, record_id) adds to whoever dispatch gives it to: the open
        ones nobody has yet (`dispatched` gives them; the others count for nobody or stay someone else's)."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        rows = await self.session.execute(
            select(open_work.c.record_type, open_work.c.record_id, open_work.c.priority)
            .where(tuple_(open_work.c.record_type, open_work.c.record_id).in_(keys), open_work.c.open,
                   open_work.c.assignee.is_(None)))
        return {(t, i): work_weight(t, priority) for t, i, priority in rows.all()}

    async def dispatched(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """What dispatch chose (record_type, record_id, assignment_group, assignee each, in the order decided) counts
        at once, before the owner's assigned event comes back, for records nobody has yet; the owner's event, newer,
        has the last word. Decisions later in the same run weigh it already (the handler counts it as it decides:
        `unassigned`)."""
        if rows:
            await self.session.execute(
                update(open_work).where(open_work.c.record_type == bindparam("b_record_type"),
                                        open_work.c.record_id == bindparam("b_record_id"),
                                        open_work.c.assignee.is_(None))
                .values(assignment_group=bindparam("b_assignment_group"), assignee=bindparam("b_assignee")),
                [{f"b_{k}": v for k, v in r.items()} for r in rows])


_PUT_CIS = UpsertNewer(cis, ["id"], ("name", "ci_class", "owner_group", "sequence"))
_PUT_OPEN_WORK = UpsertNewer(open_work, ["record_type", "record_id"],
                             ("assignment_group", "assignee", "priority", "open", "sequence"))


class Decisions:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """A run's decisions in one statement."""
        await insert_rows(self.session, dispatch_decisions, rows)

    async def page(self, *, record_type: str | None = None, record_id: str | None = None, limit: int = 50,
                   cursor: str | None = None) -> tuple[list[dict], str | None]:
        query = select(dispatch_decisions)
        if record_type is not None:
            query = query.where(dispatch_decisions.c.record_type == record_type)
        if record_id is not None:
            query = query.where(dispatch_decisions.c.record_id == record_id)
        query = newest_first(query, dispatch_decisions.c.decided_at, dispatch_decisions.c.id, limit=limit,
                             cursor=cursor)
        found = [dict(r._mapping) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda d: (d["decided_at"], d["id"]))
