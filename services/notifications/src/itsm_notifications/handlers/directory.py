"""The directory's use cases: people and groups as admins keep them, and the import from the identity provider."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict, InvalidValue
from itsm_kit.errors import check_version, found
from itsm_kit.jobs import periodic
from itsm_kit.runtime import Runtime
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications import scim
from itsm_notifications.domain.directory import (
    USERNAME, Group, Person, check_member_count, email_address, member_list, timezone_name,
)
from itsm_notifications.store.directory import GroupRepository, PersonRepository, import_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupView:
    group: Group
    members: list[Person]


# -- people ----------------------------------------------------------------------------------------------------

async def list_people(uow: UnitOfWork, *, limit: int, cursor: str | None, q: str | None = None,
                      username: str | None = None, active: bool | None = None) -> tuple[list[Person], str | None]:
    async with uow:
        return await PersonRepository(uow.session).page(limit=limit, cursor=cursor, q=q, username=username,
                                                        active=active)


async def get_person(uow: UnitOfWork, person_id: str) -> Person:
    async with uow:
        return found(await PersonRepository(uow.session).get(person_id), "person", person_id)


async def get_person_by_username(uow: UnitOfWork, username: str) -> Person:
    async with uow:
        return found(await PersonRepository(uow.session).find(username=username), "person with username", username)


async def create_person(uow: UnitOfWork, **fields: Any) -> Person:
    async with uow:
        repo = PersonRepository(uow.session)
        person = Person.create(id=str(uuid.uuid4()), at=utcnow(), **fields)
        await _unique_username(repo, person)
        await repo.add(person)
        uow.add(person)  # itsm.person.saved, in this transaction (issue 17)
        await uow.commit()
    return person


async def update_person(uow: UnitOfWork, person_id: str, changes: dict[str, Any], *,
                        if_match: int | None = None) -> Person:
    """Saved, and published, only when something changed; a new username is a change of the groups they are in
    (their members go out by username)."""
    async with uow:
        repo = PersonRepository(uow.session)
        person = await _locked(repo, person_id, if_match)
        loaded, username, at = person.version, person.username, utcnow()
        person.update(changes, at)
        if person.version != loaded:
            await _unique_username(repo, person)
            await repo.save(person, loaded)
            uow.add(person)
            if person.username != username:
                await _groups_follow(uow, await GroupRepository(uow.session).groups_of([person.id]), at)
            await uow.commit()
    return person


async def delete_person(uow: UnitOfWork, person_id: str, *, if_match: int | None = None) -> None:
    """Gone, and out of every group (deliveries made for them keep their id and address): published as removed, and
    each of their groups as saved without them."""
    async with uow:
        repo = PersonRepository(uow.session)
        person = await _locked(repo, person_id, if_match)
        groups_before = await GroupRepository(uow.session).groups_of([person.id])
        at = utcnow()
        person.removed(at)
        uow.add(person)
        await repo.remove(person_id)
        await _groups_follow(uow, groups_before, at)
        await uow.commit()


async def _locked(repo: PersonRepository | GroupRepository, ident: str, if_match: int | None) -> Any:
    record = found(await repo.get(ident, for_update=True), repo.noun, ident)
    check_version(repo.noun, ident, record.version, if_match)
    return record


async def _unique_username(repo: PersonRepository, person: Person) -> None:
    if (other := await repo.holder(person, "username")) is not None:
        raise Conflict(f"there is already a person with username {person.username}", username=person.username,
                       person_id=other.id)


# -- groups ----------------------------------------------------------------------------------------------------

async def list_groups(uow: UnitOfWork, *, limit: int, cursor: str | None, q: str | None = None
                      ) -> tuple[list[tuple[Group, int]], str | None]:
    """A page of groups by name, each with its member count."""
    async with uow:
        repo = GroupRepository(uow.session)
        items, next_cursor = await repo.page(limit=limit, cursor=cursor, q=q)
        counts = await repo.member_counts([g.id for g in items])
        return [(g, counts.get(g.id, 0)) for g in items], next_cursor


async def get_group(uow: UnitOfWork, group_id: str) -> GroupView:
    async with uow:
        repo = GroupRepository(uow.session)
        group = found(await repo.get(group_id), "group", group_id)
        return GroupView(group, await repo.members(group_id))


async def create_group(uow: UnitOfWork, *, members: Sequence[str] = (), **fields: Any) -> GroupView:
    async with uow:
        repo = GroupRepository(uow.session)
        group = Group.create(id=str(uuid.uuid4()), at=utcnow(), **fields)
        ids = await _member_ids(uow, members)
        await _unique_group_name(repo, group)
        await repo.add(group)
        await repo.set_members(group.id, ids)
        view = GroupView(group, await repo.members(group.id))
        _publish(uow, group, view.members, group.created_at)
        await uow.commit()
    return view


async def update_group(uow: UnitOfWork, group_id: str, changes: dict[str, Any], *,
                       if_match: int | None = None) -> GroupView:
    async with uow:
        repo = GroupRepository(uow.session)
        group = await _locked(repo, group_id, if_match)
        loaded, at = group.version, utcnow()
        group.update(changes, at)
        if group.version != loaded:
            await _unique_group_name(repo, group)
            await repo.save(group, loaded)
            _publish(uow, group, await repo.members(group_id), at)
            await uow.commit()
    return await get_group(uow, group_id)


async def delete_group(uow: UnitOfWork, group_id: str, *, if_match: int | None = None) -> None:
    async with uow:
        repo = GroupRepository(uow.session)
        group = await _locked(repo, group_id, if_match)
        group.removed(utcnow())
        uow.add(group)
        await repo.remove(group_id)
        await uow.commit()


async def set_group_members(uow: UnitOfWork, group_id: str, members: Sequence[str], *,
                            if_match: int | None = None) -> GroupView:
    """The group's members are exactly these (ids or usernames); its version moves on when that changes them."""
    async with uow:
        repo, group = await _locked_group(uow, group_id, if_match)
        ids = await _member_ids(uow, members)
        changed = set(ids) != set(await repo.member_ids(group_id))
        if changed:
            await repo.set_members(group_id, ids)
            await _touched(repo, group)
        view = GroupView(group, await repo.members(group_id))
        if changed:
            _publish(uow, group, view.members, group.updated_at)
        await uow.commit()
    return view


async def add_group_member(uow: UnitOfWork, group_id: str, member: str, *, if_match: int | None = None) -> GroupView:
    async with uow:
        repo, group = await _locked_group(uow, group_id, if_match)
        [person_id] = await _member_ids(uow, [member])
        current = await repo.member_ids(group_id)
        added = person_id not in current
        if added:
            check_member_count([*current, person_id])
            await repo.add_member(group_id, person_id)
            await _touched(repo, group)
        view = GroupView(group, await repo.members(group_id))
        if added:
            _publish(uow, group, view.members, group.updated_at)
        await uow.commit()
    return view


async def remove_group_member(uow: UnitOfWork, group_id: str, person_id: str, *, if_match: int | None = None) -> None:
    """A 404 when the person is not a member."""
    async with uow:
        repo, group = await _locked_group(uow, group_id, if_match)
        if not await repo.remove_member(group_id, person_id):
            raise found(None, f"member of group {group.name}:", person_id)
        await _touched(repo, group)
        _publish(uow, group, await repo.members(group_id), group.updated_at)
        await uow.commit()


async def _locked_group(uow: UnitOfWork, group_id: str, if_match: int | None) -> tuple[GroupRepository, Group]:
    repo = GroupRepository(uow.session)
    group = found(await repo.get(group_id, for_update=True), "group", group_id)
    check_version("group", group_id, group.version, if_match)
    return repo, group


async def _touched(repo: GroupRepository, group: Group) -> None:
    loaded = group.version
    group.members_changed(utcnow())
    await repo.save(group, loaded)


# -- publishing the directory on itsm.directory (issue 17) ---------------------------------------------------------
# Every write of a person or a group is published through the outbox, in the write's transaction: the requests
# service keeps a copy (group members for dispatch, a requester's manager and location). A person raises their own
# events (Person.create/update); a group is published here, with the members it has after the write.

def _publish(uow: UnitOfWork, group: Group, members: Sequence[Person] | Sequence[str], at: datetime) -> None:
    group.saved([m if isinstance(m, str) else m.username for m in members], at)
    uow.add(group)


async def publish_directory(uow: UnitOfWork) -> tuple[int, int]:
    """Every person and group published again as they now are, at their current versions (nothing changed: a copy
    that has them already keeps what it has): for people and groups written before the directory was published, or a
    copy rebuilt from scratch. (people, groups)."""
    async with uow:
        people_repo, group_repo, at = PersonRepository(uow.session), GroupRepository(uow.session), utcnow()
        everyone, teams = await people_repo.everyone(), await group_repo.everyone()
        for person in everyone:
            person.saved(at)
        uow.add(*everyone)
        usernames = await group_repo.member_usernames([g.id for g in teams])
        for group in teams:
            _publish(uow, group, usernames[group.id], at)
        await uow.commit()
    return len(everyone), len(teams)


async def _groups_follow(uow: UnitOfWork, group_ids: Sequence[str], at: datetime) -> None:
    """Groups whose members' usernames changed without a membership change of theirs (a member renamed or removed
    from the directory): a new version each, published with the members they have now."""
    if not group_ids:
        return
    repo = GroupRepository(uow.session)
    changed = list((await repo.get_many(group_ids, for_update=True)).values())
    usernames = await repo.member_usernames([g.id for g in changed])
    for group in changed:
        group.members_changed(at)
        _publish(uow, group, usernames[group.id], at)
    await repo.save_many(changed)


async def _member_ids(uow: UnitOfWork, members: Sequence[str]) -> list[str]:
    """The person ids a members list names; a 422 naming those nobody in the directory is."""
    if not members:
        return []
    return member_list(list(members), await PersonRepository(uow.session).member_keys(set(members)))


async def _unique_group_name(repo: GroupRepository, group: Group) -> None:
    if (other := await repo.holder(group)) is not None:
        raise Conflict(f"there is already a group named {group.name}", name=group.name, group_id=other.id)


# -- import from the identity provider (SCIM 2.0) --------------------------------------------------------------

@dataclass(frozen=True)
class ImportCounts:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    groups: int = 0


async def import_from_scim(uow: UnitOfWork, source: scim.ScimSource) -> ImportCounts:
    """Read everything from the identity provider first (no transaction open meanwhile), then apply it in one
    transaction: a failure on either side changes nothing."""
    listed = await scim.fetch(source)
    async with uow:
        await import_lock(uow.session)  # replicas' periodic imports and an admin's take turns
        counts = await _apply_import(uow, listed)
        await uow.commit()
    # Prefixed: `created` is a LogRecord attribute of its own.
    log.info("directory imported from SCIM", extra={f"import_{k}": v for k, v in counts.__dict__.items()})
    return counts


async def _apply_import(uow: UnitOfWork, listed: scim.ScimDirectory) -> ImportCounts:
    """People: matched by SCIM id, else a hand-made one by username (adopted); those no longer listed are
    deactivated, never deleted (deliveries refer to them). Groups: matched by SCIM id, else by name; their members
    are exactly the listed users the directory keeps."""
    at = utcnow()
    people_repo, group_repo = PersonRepository(uow.session), GroupRepository(uow.session)
    users = list({u.scim_id: u for u in listed.users}.values())
    known = await people_repo.named(usernames=[u.username for u in users], scim_ids=[u.scim_id for u in users])
    known += [p for p in await people_repo.imported() if p.id not in {k.id for k in known}]
    by_scim = {p.scim_id: p for p in known if p.scim_id}
    by_username = {p.username: p for p in known}
    usernames_before = {p.id: p.username for p in known}
    listed_ids = {u.scim_id for u in users}
    # Issue 17: a manager is named by username, among the users this import lists (checked below, once people are).
    listed_usernames = {u.scim_id: u.username for u in users}
    manager_of = {u.scim_id: m for u in users
                  if (m := listed_usernames.get(u.manager_id)) not in (None, u.username) and USERNAME.fullmatch(m)}
    created: list[Person] = []
    changed: dict[str, Person] = {}
    person_of_user: dict[str, str] = {}
    taken: set[str] = set()  # usernames this import gave out, so that two users never get one
    for user in users:
        person = by_scim.get(user.scim_id)
        if person is None:
            other = by_username.get(user.username)
            # Adopt a hand-made person (or one whose SCIM id the provider no longer lists) by username.
            if other is not None and (other.scim_id is None or other.scim_id not in listed_ids):
                person = other
        holder = by_username.get(user.username)
        if user.username in taken or (holder is not None and holder is not person):
            log.warning("SCIM user skipped: its username is taken", extra={"scim_id": user.scim_id})
            continue
        try:
            if person is None:
                person = Person.create(id=str(uuid.uuid4()), username=user.username, name=user.name,
                                       email=_or_none(user.email), timezone=_timezone(user.timezone),
                                       active=user.active, scim_id=user.scim_id, at=at,
                                       manager=manager_of.get(user.scim_id), location=user.location)
                created.append(person)
            else:
                loaded = person.version
                person.update({"username": user.username, "name": user.name, "email": _or_none(user.email),
                               "timezone": _timezone(user.timezone), "active": user.active,
                               "manager": manager_of.get(user.scim_id), "location": user.location}, at)
                if person.scim_id != user.scim_id:
                    person.scim_id, person.version = user.scim_id, loaded + 1
                if person.version != loaded:
                    changed[person.id] = person
        except InvalidValue as exc:
            log.warning("SCIM user skipped", extra={"scim_id": user.scim_id, "error": str(exc)})
            continue
        taken.add(user.username)
        person_of_user[user.scim_id] = person.id
    # A manager the import skipped (their username taken by someone else) is nobody's manager here.
    imported = {p.id: p for p in (*created, *changed.values())}
    kept_usernames = {listed_usernames[scim_id] for scim_id in person_of_user}
    for person_id in person_of_user.values():
        person = imported.get(person_id)
        if person is not None and person.manager is not None and person.manager not in kept_usernames:
            person.update({"manager": None}, at)
    renamed = [p.id for p in known if p.id in changed and p.username != usernames_before[p.id]]
    deactivated = 0
    for person in known:
        if person.scim_id and person.scim_id not in listed_ids and person.active and person.id not in changed:
            person.update({"active": False}, at)
            changed[person.id] = person
            deactivated += 1
    await people_repo.add(*created)
    await people_repo.save_many(changed.values())  # locked above: nobody else moved them

    groups_listed = list({g.scim_id: g for g in listed.groups}.values())
    existing = await group_repo.all_imported_or_named(scim_ids=[g.scim_id for g in groups_listed],
                                                      names=[g.name for g in groups_listed])
    group_by_scim = {g.scim_id: g for g in existing if g.scim_id}
    group_by_name = {g.name: g for g in existing}
    memberships = await group_repo.memberships([g.id for g in existing])
    new_groups: list[Group] = []
    changed_groups: dict[str, Group] = {}
    members: dict[str, list[str]] = {}
    for listed_group in groups_listed:
        group = group_by_scim.get(listed_group.scim_id) or group_by_name.get(listed_group.name)
        ids = list(dict.fromkeys(person_of_user[m] for m in listed_group.member_ids if m in person_of_user))
        try:
            check_member_count(ids)
            if group is None:
                group = Group.create(id=str(uuid.uuid4()), name=listed_group.name, scim_id=listed_group.scim_id, at=at)
                new_groups.append(group)
            else:
                loaded = group.version
                holder = group_by_name.get(listed_group.name)
                if holder is not None and holder is not group:
                    raise Conflict("its name is another group's")
                group.update({"name": listed_group.name}, at)
                if group.scim_id != listed_group.scim_id or set(ids) != memberships.get(group.id, set()):
                    group.scim_id, group.updated_at, group.version = listed_group.scim_id, at, loaded + 1
                if group.version != loaded:
                    changed_groups[group.id] = group
        except (InvalidValue, Conflict) as exc:
            log.warning("SCIM group skipped", extra={"scim_id": listed_group.scim_id, "error": str(exc)})
            continue
        group_by_name[group.name] = group
        if group.id not in memberships or set(ids) != memberships.get(group.id, set()):
            members[group.id] = ids
    await group_repo.add(*new_groups)
    await group_repo.save_many(changed_groups.values())
    await group_repo.replace_memberships(members)
    # Published (issue 17): every person and group this import wrote, and the groups a renamed member is in.
    uow.add(*created, *changed.values())
    written = [*new_groups, *changed_groups.values()]
    usernames = await group_repo.member_usernames([g.id for g in written])
    for group in written:
        _publish(uow, group, usernames[group.id], at)
    await _groups_follow(uow, sorted(set(await group_repo.groups_of(renamed)) - {g.id for g in written}), at)
    return ImportCounts(created=len(created), updated=len(changed) - deactivated, deactivated=deactivated,
                        groups=len(new_groups) + len(changed_groups))


def _or_none(email: str | None) -> str | None:
    """An address the directory takes, or none (a bad one from the provider must not stop the import)."""
    try:
        return email_address(email, "e-mail")
    except InvalidValue:
        return None


def _timezone(name: str) -> str:
    try:
        return timezone_name(name)
    except InvalidValue:
        return "UTC"


async def scim_import_pass(runtime: Runtime) -> bool:
    """One periodic import (a failed one is logged and tried at the next interval)."""
    await import_from_scim(runtime.unit_of_work(), scim.source_of(runtime.settings))
    return False


# The periodic import: only where an endpoint and an interval are both set.
scim_importing = periodic("scim-import", lambda r: r.settings.scim_import_interval_seconds
                          if r.settings.scim_url else None, scim_import_pass)
