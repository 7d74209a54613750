"""People and groups (issue 16: directory helper), and the import from the identity provider's SCIM endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from itsm_contracts.api.directory import (
    DirectoryPublished, GroupCreate, GroupMemberAdd, GroupMembers, GroupPage, GroupPublic, GroupQuery, GroupSummary,
    GroupUpdate, PersonBrief, PersonCreate, PersonPage, PersonPublic, PersonQuery, PersonUpdate, ScimImportResult,
)
from itsm_kit.api import Ident, IfMatch, tag
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_notifications import scim
from itsm_notifications.domain.directory import Group, Person
from itsm_notifications.handlers import directory as handlers

router = APIRouter(tags=["directory"])
UsernamePath = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$",
                                   description="a person's username (the identity provider's subject)")]


def _person(person: Person) -> PersonPublic:
    hours = person.working_hours.as_json() if person.working_hours is not None else None
    return PersonPublic.model_validate({**person.__dict__, "working_hours": hours})


def _answer_person(response: Response, person: Person) -> PersonPublic:
    tag(response, person.version)
    return _person(person)


def _group(response: Response, view: handlers.GroupView) -> GroupPublic:
    tag(response, view.group.version)
    return GroupPublic(**_summary(view.group, len(view.members)).model_dump(),
                       members=[PersonBrief.model_validate(p, from_attributes=True) for p in view.members])


def _summary(group: Group, member_count: int) -> GroupSummary:
    return GroupSummary.model_validate({**group.__dict__, "member_count": member_count})


# -- people ----------------------------------------------------------------------------------------------------

@router.post("/people", response_model=PersonPublic, status_code=201, summary="Add a person")
async def create_person(body: PersonCreate, uow: UnitOfWorkDep, response: Response) -> PersonPublic:
    person = await retrying(lambda: handlers.create_person(uow, **body.model_dump()))
    response.headers["Location"] = f"/people/{person.id}"
    return _answer_person(response, person)


@router.get("/people", response_model=PersonPage, summary="People by username (cursor pagination)")
async def list_people(uow: UnitOfWorkDep, query: Annotated[PersonQuery, Query()]) -> PersonPage:
    items, next_cursor = await handlers.list_people(uow, **query.model_dump())
    return PersonPage(items=[_person(p) for p in items], next_cursor=next_cursor)


@router.get("/people/by-username/{username}", response_model=PersonPublic, summary="A person, by username")
async def get_person_by_username(username: UsernamePath, uow: UnitOfWorkDep, response: Response) -> PersonPublic:
    return _answer_person(response, await handlers.get_person_by_username(uow, username))


@router.get("/people/{person_id}", response_model=PersonPublic, summary="A person (version = ETag)")
async def get_person(person_id: Ident, uow: UnitOfWorkDep, response: Response) -> PersonPublic:
    return _answer_person(response, await handlers.get_person(uow, person_id))


@router.patch("/people/{person_id}", response_model=PersonPublic, summary="Change a person")
async def update_person(person_id: Ident, body: PersonUpdate, uow: UnitOfWorkDep, response: Response,
                        if_match: IfMatch) -> PersonPublic:
    person = await retrying(lambda: handlers.update_person(uow, person_id, body.changes(), if_match=if_match))
    return _answer_person(response, person)


@router.delete("/people/{person_id}", status_code=204, summary="Remove a person (and their memberships)")
async def delete_person(person_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await handlers.delete_person(uow, person_id, if_match=if_match)
    return Response(status_code=204)


# -- groups ----------------------------------------------------------------------------------------------------

@router.post("/groups", response_model=GroupPublic, status_code=201, summary="Add a group, with its members")
async def create_group(body: GroupCreate, uow: UnitOfWorkDep, response: Response) -> GroupPublic:
    view = await retrying(lambda: handlers.create_group(uow, **body.model_dump()))
    response.headers["Location"] = f"/groups/{view.group.id}"
    return _group(response, view)


@router.get("/groups", response_model=GroupPage, summary="Groups by name (cursor pagination)")
async def list_groups(uow: UnitOfWorkDep, query: Annotated[GroupQuery, Query()]) -> GroupPage:
    items, next_cursor = await handlers.list_groups(uow, **query.model_dump())
    return GroupPage(items=[_summary(g, n) for g, n in items], next_cursor=next_cursor)


@router.get("/groups/{group_id}", response_model=GroupPublic, summary="A group and its members (version = ETag)")
async def get_group(group_id: Ident, uow: UnitOfWorkDep, response: Response) -> GroupPublic:
    return _group(response, await handlers.get_group(uow, group_id))


@router.patch("/groups/{group_id}", response_model=GroupPublic, summary="Change a group's name, description, e-mail")
async def update_group(group_id: Ident, body: GroupUpdate, uow: UnitOfWorkDep, response: Response,
                       if_match: IfMatch) -> GroupPublic:
    view = await retrying(lambda: handlers.update_group(uow, group_id, body.changes(), if_match=if_match))
    return _group(response, view)


@router.delete("/groups/{group_id}", status_code=204, summary="Remove a group (its members stay in the directory)")
async def delete_group(group_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await handlers.delete_group(uow, group_id, if_match=if_match)
    return Response(status_code=204)


@router.put("/groups/{group_id}/members", response_model=GroupPublic,
            summary="Set a group's members: exactly these people (ids or usernames)")
async def set_group_members(group_id: Ident, body: GroupMembers, uow: UnitOfWorkDep, response: Response,
                            if_match: IfMatch) -> GroupPublic:
    return _group(response, await handlers.set_group_members(uow, group_id, body.members, if_match=if_match))


@router.post("/groups/{group_id}/members", response_model=GroupPublic, summary="Add a member (an id or username)")
async def add_group_member(group_id: Ident, body: GroupMemberAdd, uow: UnitOfWorkDep, response: Response,
                           if_match: IfMatch) -> GroupPublic:
    return _group(response, await handlers.add_group_member(uow, group_id, body.member, if_match=if_match))


@router.delete("/groups/{group_id}/members/{person_id}", status_code=204, summary="Take a member out of a group")
async def remove_group_member(group_id: Ident, person_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await handlers.remove_group_member(uow, group_id, person_id, if_match=if_match)
    return Response(status_code=204)


# -- import ----------------------------------------------------------------------------------------------------

@router.post("/directory/scim-import", response_model=ScimImportResult,
             summary="Import people and groups from the identity provider's SCIM 2.0 endpoint now")
async def import_directory(uow: UnitOfWorkDep, runtime: RuntimeDep) -> ScimImportResult:
    counts = await handlers.import_from_scim(uow, scim.source_of(runtime.settings))
    return ScimImportResult(**counts.__dict__)


@router.post("/directory/publish", response_model=DirectoryPublished,
             summary="Publish every person and group again on itsm.directory (issue 17)")
async def publish_directory(uow: UnitOfWorkDep) -> DirectoryPublished:
    people, groups = await handlers.publish_directory(uow)
    return DirectoryPublished(people=people, groups=groups)
