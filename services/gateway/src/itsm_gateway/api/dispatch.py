"""dispatch through the gateway (issue 17): thin pass-throughs to the requests service, roles checked here.

Rules and group methods decide who gets incidents, problems and tasks: admins write them, the desk reads them, tries
them (dry run) and reads the decisions made.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from itsm_contracts.api.dispatch import (
    DispatchDecisionPage, DispatchDecisionQuery, DispatchDryRun, DispatchGroupList, DispatchGroupMethod,
    DispatchGroupPublic, DispatchOutcome, DispatchRuleCreate, DispatchRuleList, DispatchRulePublic, DispatchRuleUpdate,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, AgentUser, RoleRoute
from itsm_gateway.upstream import Passage, call

router = APIRouter(prefix="/dispatch", tags=["dispatch"], route_class=RoleRoute)
requests_service = Passage("requests", "/api/v1")

# A group's name in a path: what the directory's names are made of, never a slash, `?`, `#` or a leading dot.
GroupName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@+-]*$",
                                description="the group's name")]


@router.get("/rules", response_model=DispatchRuleList, summary="Every dispatch rule, in evaluation order")
async def list_dispatch_rules(request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await requests_service.read(runtime, request, "/dispatch/rules")


@router.post("/rules", response_model=DispatchRulePublic, status_code=201,
             summary="Add a dispatch rule at a position (default: last); the rules from there on move down one")
async def create_dispatch_rule(body: DispatchRuleCreate, runtime: RuntimeDep, user: AdminUser,
                               response: Response) -> dict:
    return await requests_service.send(runtime, response, "POST", "/dispatch/rules", body, actor=user)


@router.get("/rules/{rule_id}", response_model=DispatchRulePublic, summary="A dispatch rule (version = ETag)")
async def get_dispatch_rule(rule_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                            response: Response) -> dict:
    return await requests_service.read(runtime, request, f"/dispatch/rules/{rule_id}", response)


@router.patch("/rules/{rule_id}", response_model=DispatchRulePublic,
              summary="Change a dispatch rule; a new position moves the rules in between by one")
async def update_dispatch_rule(rule_id: Ident, body: DispatchRuleUpdate, runtime: RuntimeDep, user: AdminUser,
                               response: Response, if_match: IfMatchHeader = None) -> dict:
    return await requests_service.send(runtime, response, "PATCH", f"/dispatch/rules/{rule_id}", body, actor=user,
                                       if_match=if_match)


@router.delete("/rules/{rule_id}", status_code=204, response_class=Response,
               summary="Remove a dispatch rule (the decisions it made keep its name and version)")
async def delete_dispatch_rule(rule_id: Ident, runtime: RuntimeDep, user: AdminUser,
                               if_match: IfMatchHeader = None) -> Response:
    await call(runtime, "requests", "DELETE", f"/dispatch/rules/{rule_id}", actor=user,
               headers={"if-match": if_match} if if_match else {})
    return Response(status_code=204)


@router.post("/dry-run", response_model=DispatchOutcome,
             summary="What dispatch would decide for such a record now (nothing is written, no turn is taken)")
async def dry_run_dispatch(body: DispatchDryRun, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await requests_service.send(runtime, response, "POST", "/dispatch/dry-run", body, actor=user)


@router.get("/groups", response_model=DispatchGroupList,
            summary="Each group's method and the active members it chooses from (a group not listed: nobody)")
async def list_dispatch_groups(request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await requests_service.read(runtime, request, "/dispatch/groups")


@router.put("/groups/{name}", response_model=DispatchGroupPublic,
            responses={201: {"model": DispatchGroupPublic, "description": "the group's method set for the first time"}},
            summary="Set how a group's work goes to its members: round_robin, least_loaded or none")
async def set_dispatch_group_method(name: GroupName, body: DispatchGroupMethod, runtime: RuntimeDep, user: AdminUser,
                                    response: Response, if_match: IfMatchHeader = None) -> dict:
    upstream = await call(runtime, "requests", "PUT", f"/dispatch/groups/{quote(name, safe='')}",
                          actor=user, json=body.model_dump(mode="json"),
                          headers={"if-match": if_match} if if_match else {})
    response.status_code = upstream.status_code
    return requests_service.relay(upstream, response)


@router.get("/decisions", response_model=DispatchDecisionPage,
            summary="Dispatch decisions, newest first: the rule (name and version then) and method behind each")
async def list_dispatch_decisions(request: Request, runtime: RuntimeDep, user: AgentUser,
                                  query: Annotated[DispatchDecisionQuery, Query()]) -> dict:
    return await requests_service.read(runtime, request, "/dispatch/decisions")
