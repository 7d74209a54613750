"""Problems for frontends: the problems service's records, typed.

Every write upstream names who acts (the JWT subject) in the gateway's signature; the problems
service takes no call the gateway did not sign.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.problems import (
    ProblemCreate, ProblemMove, ProblemPage, ProblemPublic, ProblemQuery, ProblemUpdate,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AgentUser, RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(prefix="/problems", tags=["problems"], route_class=RoleRoute)
problems = Passage("problems", "/api/v1")


@router.post("", response_model=ProblemPublic, status_code=201, summary="Open a problem")
async def open_problem(body: ProblemCreate, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await problems.send(runtime, response, "POST", "/problems", body, actor=user.id)


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
    return await problems.send(runtime, response, "PATCH", f"/problems/{problem_id}", body, actor=user.id,
                               if_match=if_match)


@router.post("/{problem_id}/state", response_model=ProblemPublic, summary="Move a problem to another state")
async def move_problem(problem_id: Ident, body: ProblemMove, runtime: RuntimeDep, user: AgentUser,
                       response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/state", body, actor=user.id,
                               if_match=if_match)
