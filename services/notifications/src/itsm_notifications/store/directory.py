"""The directory's store: people, groups and their members, and the look-up the notification pipeline makes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.db import matching
from itsm_kit.pagination import keyset, page_of
from itsm_kit.records import AggregateRepository
from itsm_notifications.domain.directory import Group, GroupWithMembers, Person, WorkingHours
from itsm_notifications.store.tables import group_members, groups, people


IMPORT_LOCK = 0x5C1D_0016  # the advisory lock of the SCIM import (any constant no other part uses)


class PersonRepository(AggregateRepository[Person]):
    table, aggregate, noun = people, Person, "person"
    choices = {"working_hours": lambda v: None if v is None else WorkingHours.of(v)}

    def row(self, aggregate: Person) -> dict[str, Any]:
        row = super().row(aggregate)
        row["working_hours"] = aggregate.working_hours.as_json() if aggregate.working_hours else None
        return row

    async def named(self, *, usernames: Iterable[str] = (), scim_ids: Iterable[str] = (),
                    ids: Iterable[str] = ()) -> list[Person]:
        """Everyone with one of these usernames, SCIM ids or ids, in one query."""
        usernames, scim_ids, ids = list(usernames), list(scim_ids), list(ids)
        if not (usernames or scim_ids or ids):
            return []
        query = select(people).where(or_(people.c.username.in_(usernames), people.c.scim_id.in_(scim_ids),
                                         people.c.id.in_(ids))).order_by(people.c.id)
        return [self.load(r) for r in (await self.session.execute(query.with_for_update())).all()]

    async def imported(self) -> list[Person]:
        """Everyone the identity provider once listed, locked (the import decides who stays active)."""
        query = select(people).where(people.c.scim_id.is_not(None)).order_by(people.c.id).with_for_update()
        return [self.load(r) for r in (await self.session.execute(query)).all()]

    async def page(self, *, limit: int, cursor: str | None, q: str | None = None, username: str | None = None,
                   active: bool | None = None) -> tuple[list[Person], str | None]:
        """By username, a page at a time; `q` matches a part of the username, name or e-mail."""
        query = select(people)
        if q:
            query = query.where(matching(q, people.c.username, people.c.name, people.c.email))
        if username is not None:
            query = query.where(people.c.username == username)
        if active is not None:
            query = query.where(people.c.active == active)
        query = keyset(query, (people.c.username, people.c.id), descending=False, limit=limit, cursor=cursor,
                       sort="username")
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda p: (p.username, p.id), sort="username")

    async def everyone(self) -> list[Person]:
        """The whole directory's people (bounded by what an import takes): to publish it again (issue 17)."""
        return [self.load(r) for r in (await self.session.execute(select(people).order_by(people.c.id))).all()]

    async def member_keys(self, wanted: Collection[str]) -> dict[str, str]:
        """id or username -> person id, for the entries of a members list that name someone."""
        if not wanted:
            return {}
        wanted = list(wanted)
        rows = await self.session.execute(select(people.c.id, people.c.username).where(
            or_(people.c.id.in_(wanted), people.c.username.in_(wanted))))
        keys: dict[str, str] = {}
        for ident, username in rows.all():
            keys[ident] = keys[username] = ident
        return keys


class GroupRepository(AggregateRepository[Group]):
    table, aggregate, noun = groups, Group, "group"

    async def all_imported_or_named(self, *, scim_ids: Iterable[str], names: Iterable[str]) -> list[Group]:
        query = select(groups).where(or_(groups.c.scim_id.in_(list(scim_ids)), groups.c.name.in_(list(names))))
        return [self.load(r) for r in (await self.session.execute(query.order_by(groups.c.id).with_for_update()))]

    async def page(self, *, limit: int, cursor: str | None, q: str | None = None
                   ) -> tuple[list[Group], str | None]:
        query = select(groups)
        if q:
            query = query.where(matching(q, groups.c.name, groups.c.description))
        query = keyset(query, (groups.c.name, groups.c.id), descending=False, limit=limit, cursor=cursor, sort="name")
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda g: (g.name, g.id), sort="name")

    async def members(self, group_id: str) -> list[Person]:
        """A group's members, active or not, by username."""
        query = (select(people).join(group_members, group_members.c.person_id == people.c.id)
                 .where(group_members.c.group_id == group_id).order_by(people.c.username))
        return [PersonRepository(self.session).load(r) for r in (await self.session.execute(query)).all()]

    async def member_counts(self, group_ids: Collection[str]) -> dict[str, int]:
        if not group_ids:
            return {}
        rows = await self.session.execute(
            select(group_members.c.group_id, func.count()).where(group_members.c.group_id.in_(list(group_ids)))
            .group_by(group_members.c.group_id))
        return {g: n for g, n in rows.all()}

    async def memberships(self, group_ids: Collection[str]) -> dict[str, set[str]]:
        """group id -> its members' person ids (groups without members are absent)."""
        if not group_ids:
            return {}
        rows = await self.session.execute(select(group_members.c.group_id, group_members.c.person_id)
                                          .where(group_members.c.group_id.in_(list(group_ids))))
        found: dict[str, set[str]] = {}
        for group_id, person_id in rows.all():
            found.setdefault(group_id, set()).add(person_id)
        return found

    async def member_ids(self, group_id: str) -> list[str]:
        rows = await self.session.scalars(select(group_members.c.person_id).where(group_members.c.group_id == group_id))
        return list(rows.all())

    async def set_members(self, group_id: str, person_ids: Collection[str]) -> None:
        """The group's members are exactly these."""
        await self.session.execute(delete(group_members).where(group_members.c.group_id == group_id))
        if person_ids:
            await self.session.execute(insert(group_members),
                                       [{"group_id": group_id, "person_id": p} for p in person_ids])

    async def add_member(self, group_id: str, person_id: str) -> bool:
        """Whether it was new."""
        result = await self.session.execute(pg_insert(group_members).values(group_id=group_id, person_id=person_id)
                                            .on_conflict_do_nothing())
        return result.rowcount == 1

    async def remove_member(self, group_id: str, person_id: str) -> bool:
        result = await self.session.execute(delete(group_members).where(
            and_(group_members.c.group_id == group_id, group_members.c.person_id == person_id)))
        return result.rowcount == 1

    # -- publishing the directory (issue 17) --

    async def everyone(self) -> list[Group]:
        return [self.load(r) for r in (await self.session.execute(select(groups).order_by(groups.c.id))).all()]

    async def member_usernames(self, group_ids: Collection[str]) -> dict[str, list[str]]:
        """group id -> its members' usernames, active or not, sorted (every id given is a key)."""
        found: dict[str, list[str]] = {g: [] for g in group_ids}
        if not found:
            return found
        rows = await self.session.execute(
            select(group_members.c.group_id, people.c.username)
            .join(people, people.c.id == group_members.c.person_id)
            .where(group_members.c.group_id.in_(list(found))).order_by(people.c.username))
        for group_id, username in rows.all():
            found[group_id].append(username)
        return found

    async def groups_of(self, person_ids: Collection[str]) -> list[str]:
        """The ids of the groups these people are members of."""
        if not person_ids:
            return []
        rows = await self.session.scalars(select(group_members.c.group_id).distinct()
                                          .where(group_members.c.person_id.in_(list(person_ids))))
        return sorted(rows.all())

    async def replace_memberships(self, members: Mapping[str, Collection[str]]) -> None:
        """For each group id: its members are exactly these person ids (the SCIM import), in two statements."""
        if not members:
            return
        await self.session.execute(delete(group_members).where(group_members.c.group_id.in_(list(members))))
        if rows := [{"group_id": g, "person_id": p} for g, ids in members.items() for p in ids]:
            await self.session.execute(insert(group_members), rows)


async def import_lock(session: AsyncSession) -> None:
    """Held to the end of the transaction: one directory import at a time, across replicas."""
    await session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK)))


async def recipients(session: AsyncSession, usernames: Collection[str], group_names: Collection[str]
                     ) -> tuple[dict[str, Person], dict[str, GroupWithMembers]]:
    """Who these usernames and group names reach: the active people by username, and the groups by name with their
    active members (a group without members still has its shared mailbox). Unknown names are simply absent.
    Two queries, whatever the counts."""
    people_repo = PersonRepository(session)
    found: dict[str, Person] = {}
    if usernames:
        rows = await session.execute(select(people).where(people.c.username.in_(list(usernames)), people.c.active))
        found = {(p := people_repo.load(r)).username: p for r in rows.all()}
    teams: dict[str, GroupWithMembers] = {}
    if group_names:
        # One row per (group, active member), or one with no person for a group without any.
        query = (select(groups.c.id.label("group_id"), groups.c.name.label("group_name"),
                        groups.c.email.label("group_email"), people)
                 .select_from(groups.outerjoin(group_members, group_members.c.group_id == groups.c.id)
                              .outerjoin(people, and_(people.c.id == group_members.c.person_id, people.c.active)))
                 .where(groups.c.name.in_(list(group_names))).order_by(groups.c.name, people.c.username))
        for row in (await session.execute(query)).all():
            team = teams.get(row.group_name)
            if team is None:
                team = teams[row.group_name] = GroupWithMembers(id=row.group_id, name=row.group_name,
                                                                email=row.group_email)
            if row.id is not None:
                team.members.append(people_repo.load(row))
    return found, teams
