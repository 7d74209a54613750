"""Problems for frontends: the problems service's records, typed.

Every write upstream names who acts (the JWT subject) in the gateway's signature; the problems
service takes no call the gateway did not sign. Problems are the desk's work: agents and up only,
requesters see none of them (nor their comments and work notes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.incidents import NoteCreate
from itsm_contracts.api.problems import (
    IncidentLink, ProblemActivityPage, ProblemCreate, ProblemMove, ProblemPage, ProblemPublic, ProblemQuery,
    ProblemResolution, ProblemUpdate, RootCause,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AgentUser, RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(prefix="/problems", tags=["problems"], route_class=RoleRoute)
problems = Passage("problems", "/api/v1")


@router.post("", response_model=ProblemPublic, status_code=201, summary="Open a problem")
async def open_problem(body: ProblemCreate, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await problems.send(runtime, response, "POST", "/problems", body, actor=user)


@router.get("", response_model=ProblemPage,
            summary="List problems, newest first: by state, assignment, related incident (cursor pagination)")
async def list_problems(request: Request, runtime: RuntimeDep, user: AgentUser,
                        query: Annotated[ProblemQuery, Query()]) -> dict:
    return await problems.read(runtime, request, "/problems")


@router.get("/{problem_id}", response_model=ProblemPublic, summary="A problem (its version is the ETag)")
async def get_problem(problem_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                      response: Response) -> dict:
    return await problems.read(runtime, request, f"/problems/{problem_id}", response)


@router.patch("/{problem_id}", response_model=ProblemPublic,
              summary="Change fields: description, impact/urgency (and so priority), assignment, related incidents")
async def update_problem(problem_id: Ident, body: ProblemUpdate, runtime: RuntimeDep, user: AgentUser,
                         response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "PATCH", f"/problems/{problem_id}", body, actor=user,
                               if_match=if_match)


@router.post("/{problem_id}/state", response_model=ProblemPublic,
             summary="Move a problem to another state (resolved and closed: use resolve and close)")
async def move_problem(problem_id: Ident, body: ProblemMove, runtime: RuntimeDep, user: AgentUser,
                       response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/state", body, actor=user,
                               if_match=if_match)


@router.post("/{problem_id}/root-cause", response_model=ProblemPublic,
             summary="Write down the root cause (in assess, root cause analysis or fix in progress)")
async def record_root_cause(problem_id: Ident, body: RootCause, runtime: RuntimeDep, user: AgentUser,
                              response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/root-cause", body,
                               actor=user, if_match=if_match)


@router.post("/{problem_id}/resolve", response_model=ProblemPublic,
             summary="Resolve the problem with a resolution (fix_applied needs a root cause)",
             description="With resolve_linked_incidents, the open linked incidents are resolved through the "
                         "itsm.problem.resolved event.")
async def resolve_problem(problem_id: Ident, body: ProblemResolution, runtime: RuntimeDep, user: AgentUser,
                          response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/resolve", body, actor=user,
                               if_match=if_match)


@router.post("/{problem_id}/close", response_model=ProblemPublic, summary="Close a resolved problem")
async def close_problem(problem_id: Ident, runtime: RuntimeDep, user: AgentUser, response: Response,
                        if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/close", None, actor=user,
                               if_match=if_match)


@router.post("/{problem_id}/incidents", response_model=ProblemPublic,
             summary="Link an incident to the problem (linking it again changes nothing)")
async def link_incident_to_problem(problem_id: Ident, body: IncidentLink, runtime: RuntimeDep, user: AgentUser,
                                   response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/incidents", body, actor=user,
                               if_match=if_match)


@router.delete("/{problem_id}/incidents/{incident_id}", response_model=ProblemPublic,
               summary="Unlink an incident from the problem (one not linked changes nothing)")
async def unlink_incident_from_problem(problem_id: Ident, incident_id: Ident, runtime: RuntimeDep, user: AgentUser,
                                       response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "DELETE", f"/problems/{problem_id}/incidents/{incident_id}", None,
                               actor=user, if_match=if_match)


@router.post("/{problem_id}/comments", response_model=ProblemPublic, summary="Add a comment to a problem")
async def add_problem_comment(problem_id: Ident, body: NoteCreate, runtime: RuntimeDep, user: AgentUser,
                              response: Response) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/comments", body, actor=user)


@router.post("/{problem_id}/work-notes", response_model=ProblemPublic, summary="Add an internal work note to a problem")
async def add_problem_work_note(problem_id: Ident, body: NoteCreate, runtime: RuntimeDep, user: AgentUser,
                                response: Response) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/work-notes", body, actor=user)


@router.get("/{problem_id}/activity", response_model=ProblemActivityPage,
            summary="The problem's timeline, newest first: changes, comments, work notes (cursor pagination)")
async def list_problem_activity(problem_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                                cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    return await problems.read(runtime, request, f"/problems/{problem_id}/activity")
