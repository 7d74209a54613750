"""Dispatch (issue 17): the rules admins order, each group's method, a dry run, and the decisions made."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from itsm_contracts.api.dispatch import (
    DispatchDecisionPage, DispatchDecisionPublic, DispatchDecisionQuery, DispatchDryRun, DispatchGroupList,
    DispatchGroupMethod, DispatchGroupPublic, DispatchOutcome, DispatchRuleCreate, DispatchRuleList, DispatchRulePublic,
    DispatchRuleUpdate,
)
from itsm_kit.api import Actor, Ident, IfMatch, answer, tag
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_requests.domain.dispatch import Facts
from itsm_requests.handlers import dispatch as handlers

router = APIRouter(prefix="/dispatch", tags=["dispatch"])

# A group's name in a path: what the directory's names are made of, never a slash, `?`, `#` or a leading dot.
GroupName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@+-]*$",
                                description="the group's name")]


def _rule(response: Response, rule: object) -> DispatchRulePublic:
    return answer(response, DispatchRulePublic, rule)


@router.get("/rules", response_model=DispatchRuleList, summary="Every dispatch rule, in evaluation order")
async def list_dispatch_rules(uow: UnitOfWorkDep) -> DispatchRuleList:
    rules = await handlers.list_rules(uow)
    return DispatchRuleList(items=[DispatchRulePublic.model_validate(r, from_attributes=True) for r in rules])


@router.post("/rules", response_model=DispatchRulePublic, status_code=201,
             summary="Add a dispatch rule at a position (default: last); the rules from there on move down one")
async def create_dispatch_rule(body: DispatchRuleCreate, uow: UnitOfWorkDep, runtime: RuntimeDep, response: Response,
                               actor: Actor) -> DispatchRulePublic:
    rule = await handlers.create_rule(uow, max_rules=runtime.settings.max_dispatch_rules, actor=actor, **body.fields())
    response.headers["Location"] = f"{router.prefix}/rules/{rule.id}"
    return _rule(response, rule)


@router.get("/rules/{rule_id}", response_model=DispatchRulePublic, summary="A dispatch rule (version = ETag)")
async def get_dispatch_rule(rule_id: Ident, uow: UnitOfWorkDep, response: Response) -> DispatchRulePublic:
    return _rule(response, await handlers.get_rule(uow, rule_id))


@router.patch("/rules/{rule_id}", response_model=DispatchRulePublic,
              summary="Change a dispatch rule; a new position moves the rules in between by one")
async def update_dispatch_rule(rule_id: Ident, body: DispatchRuleUpdate, uow: UnitOfWorkDep, response: Response,
                               if_match: IfMatch, actor: Actor) -> DispatchRulePublic:
    rule = await handlers.update_rule(uow, rule_id, body.changes(), actor=actor, if_match=if_match)
    return _rule(response, rule)


@router.delete("/rules/{rule_id}", status_code=204,
               summary="Remove a dispatch rule (the decisions it made keep its name and version)")
async def delete_dispatch_rule(rule_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await handlers.delete_rule(uow, rule_id, if_match=if_match)
    return Response(status_code=204)


@router.post("/dry-run", response_model=DispatchOutcome,
             summary="What dispatch would decide for such a record now (nothing is written, no turn is taken)")
async def dry_run_dispatch(body: DispatchDryRun, uow: UnitOfWorkDep) -> DispatchOutcome:
    decision = await handlers.dry_run(uow, Facts(**body.model_dump()))
    return DispatchOutcome(assignment_group=decision.assignment_group, assignee=decision.assignee,
                           rule=decision.rule, rule_version=decision.rule_version, method=decision.method,
                           rules_evaluated=decision.rules_evaluated)


def _group(shown: handlers.GroupShown) -> DispatchGroupPublic:
    g = shown.group
    return DispatchGroupPublic(name=g.name, method=g.method, last_assignee=g.last_assignee, members=shown.members,
                               updated_at=g.updated_at, updated_by=g.updated_by, version=g.version)


@router.get("/groups", response_model=DispatchGroupList,
            summary="Each group's method and the active members it chooses from (a group not listed: nobody)")
async def list_dispatch_groups(uow: UnitOfWorkDep) -> DispatchGroupList:
    return DispatchGroupList(items=[_group(g) for g in await handlers.list_groups(uow)])


@router.put("/groups/{name}", response_model=DispatchGroupPublic,
            summary="Set how a group's work goes to its members: round_robin, least_loaded or none")
async def set_dispatch_group_method(name: GroupName, body: DispatchGroupMethod, uow: UnitOfWorkDep,
                                    response: Response, if_match: IfMatch, actor: Actor) -> DispatchGroupPublic:
    shown = await retrying(lambda: handlers.set_group_method(uow, name, body.method, actor=actor, if_match=if_match))
    if shown.created:
        response.status_code = 201
    tag(response, shown.group.version)
    return _group(shown)


@router.get("/decisions", response_model=DispatchDecisionPage,
            summary="Dispatch decisions, newest first: the rule (name and version then) and method behind each")
async def list_dispatch_decisions(uow: UnitOfWorkDep,
                                  query: Annotated[DispatchDecisionQuery, Query()]) -> DispatchDecisionPage:
    items, next_cursor = await handlers.list_decisions(uow, **query.model_dump())
    return DispatchDecisionPage(items=[DispatchDecisionPublic(**d) for d in items], next_cursor=next_cursor)
