"""People and groups for notifications (admin writes; agents read). Issue 16, directory helper.

Thin pass-throughs to the notifications service, which keeps the directory: who an assignment or escalation group
reaches, and how. Requesters see none of it (names and addresses of the staff).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from itsm_contracts.api.directory import (
    DirectoryPublished, GroupCreate, GroupMemberAdd, GroupMembers, GroupPage, GroupPublic, GroupQuery, GroupUpdate,
    PersonCreate, PersonPage, PersonPublic, PersonQuery, PersonUpdate, ScimImportResult,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, AgentUser, RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(tags=["notifications"], route_class=RoleRoute)
directory = Passage("notifications", "/api/v1")
UsernamePath = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$",
                                   description="a person's username (the identity provider's subject)")]


# -- people ----------------------------------------------------------------------------------------------------

@router.post("/people", response_model=PersonPublic, status_code=201, summary="Add a person to the directory")
async def create_person(body: PersonCreate, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await directory.send(runtime, response, "POST", "/people", body, actor=user)


@router.get("/people", response_model=PersonPage,
            summary="People by username: search (q), by username, active (cursor pagination)")
async def list_people(request: Request, runtime: RuntimeDep, user: AgentUser,
                      query: Annotated[PersonQuery, Query()]) -> dict:
    return await directory.read(runtime, request, "/people")


@router.get("/people/by-username/{username}", response_model=PersonPublic,
            summary="A person by username (what incidents name as assignee)")
async def get_person_by_username(username: UsernamePath, request: Request, runtime: RuntimeDep, user: AgentUser,
                                 response: Response) -> dict:
    return await directory.read(runtime, request, f"/people/by-username/{username}", response)


@router.get("/people/{person_id}", response_model=PersonPublic, summary="A person (version = ETag)")
async def get_person(person_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                     response: Response) -> dict:
    return await directory.read(runtime, request, f"/people/{person_id}", response)


@router.patch("/people/{person_id}", response_model=PersonPublic,
              summary="Change a person: contact details, timezone, working hours, active")
async def update_person(person_id: Ident, body: PersonUpdate, runtime: RuntimeDep, user: AdminUser,
                        response: Response, if_match: IfMatchHeader = None) -> dict:
    return await directory.send(runtime, response, "PATCH", f"/people/{person_id}", body, actor=user,
                                if_match=if_match)


@router.delete("/people/{person_id}", status_code=204, response_class=Response,
               summary="Remove a person (and their memberships)")
async def delete_person(person_id: Ident, runtime: RuntimeDep, user: AdminUser, response: Response,
                        if_match: IfMatchHeader = None) -> Response:
    await directory.send(runtime, response, "DELETE", f"/people/{person_id}", None, actor=user, if_match=if_match)
    return Response(status_code=204)


# -- groups ----------------------------------------------------------------------------------------------------

@router.post("/groups", response_model=GroupPublic, status_code=201, summary="Add a group, with its members")
async def create_group(body: GroupCreate, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await directory.send(runtime, response, "POST", "/groups", body, actor=user)


@router.get("/groups", response_model=GroupPage, summary="Groups by name, with member counts (cursor pagination)")
async def list_groups(request: Request, runtime: RuntimeDep, user: AgentUser,
                      query: Annotated[GroupQuery, Query()]) -> dict:
    return await directory.read(runtime, request, "/groups")


@router.get("/groups/{group_id}", response_model=GroupPublic, summary="A group and its members (version = ETag)")
async def get_group(group_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                    response: Response) -> dict:
    return await directory.read(runtime, request, f"/groups/{group_id}", response)


@router.patch("/groups/{group_id}", response_model=GroupPublic, summary="Change a group's name, description, e-mail")
async def update_group(group_id: Ident, body: GroupUpdate, runtime: RuntimeDep, user: AdminUser,
                       response: Response, if_match: IfMatchHeader = None) -> dict:
    return await directory.send(runtime, response, "PATCH", f"/groups/{group_id}", body, actor=user,
                                if_match=if_match)


@router.delete("/groups/{group_id}", status_code=204, response_class=Response,
               summary="Remove a group (its members stay in the directory)")
async def delete_group(group_id: Ident, runtime: RuntimeDep, user: AdminUser, response: Response,
                       if_match: IfMatchHeader = None) -> Response:
    await directory.send(runtime, response, "DELETE", f"/groups/{group_id}", None, actor=user, if_match=if_match)
    return Response(status_code=204)


@router.put("/groups/{group_id}/members", response_model=GroupPublic,
            summary="Set a group's members: exactly these people (ids or usernames)")
async def set_group_members(group_id: Ident, body: GroupMembers, runtime: RuntimeDep, user: AdminUser,
                            response: Response, if_match: IfMatchHeader = None) -> dict:
    return await directory.send(runtime, response, "PUT", f"/groups/{group_id}/members", body, actor=user,
                                if_match=if_match)


@router.post("/groups/{group_id}/members", response_model=GroupPublic,
             summary="Add a member to a group (an id or username)")
async def add_group_member(group_id: Ident, body: GroupMemberAdd, runtime: RuntimeDep, user: AdminUser,
                           response: Response, if_match: IfMatchHeader = None) -> dict:
    return await directory.send(runtime, response, "POST", f"/groups/{group_id}/members", body, actor=user,
                                if_match=if_match)


@router.delete("/groups/{group_id}/members/{person_id}", status_code=204, response_class=Response,
               summary="Take a member out of a group")
async def remove_group_member(group_id: Ident, person_id: Ident, runtime: RuntimeDep, user: AdminUser,
                              response: Response, if_match: IfMatchHeader = None) -> Response:
    await directory.send(runtime, response, "DELETE", f"/groups/{group_id}/members/{person_id}", None, actor=user,
                         if_match=if_match)
    return Response(status_code=204)


# -- import ----------------------------------------------------------------------------------------------------

@router.post("/directory/scim-import", response_model=ScimImportResult,
             summary="Import people and groups from the identity provider's SCIM 2.0 endpoint now",
             description="People are matched by SCIM id, else by username (hand-made ones are adopted); those no "
                         "longer listed are deactivated, never deleted. A 503 when no endpoint is configured, a 502 "
                         "when the identity provider fails; either way nothing changes.")
async def import_directory_from_scim(runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await directory.send(runtime, response, "POST", "/directory/scim-import", None, actor=user)


@router.post("/directory/publish", response_model=DirectoryPublished,
             summary="Publish every person and group again on itsm.directory",
             description="At their current versions (nothing changes): for people and groups written before the "
                         "directory was published (issue 17), or a copy rebuilt from scratch.")
async def publish_directory(runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await directory.send(runtime, response, "POST", "/directory/publish", None, actor=user)
