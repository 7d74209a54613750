"""The problems HTTP API (internal; clients reach it through the gateway).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject,
the caller's JWT subject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.incidents import NoteCreate
from itsm_contracts.api.problems import (
    BusinessServiceRef, DetectionRuleCreate, DetectionRuleList, DetectionRulePublic, DetectionRuleUpdate,
    IncidentLink, KnownErrorImpactReport, KnownErrorPage, KnownErrorPublic, KnownErrorPublish, KnownErrorQuery,
    KnownErrorRetire, LinkSuggestion, LinkSuggestionList, ProblemActivityEntry, ProblemActivityPage,
    ProblemAgingReport, ProblemCreate, ProblemMove, ProblemPage, ProblemPublic, ProblemQuery, ProblemResolution,
    ProblemUpdate, RootCause,
)
from itsm_contracts.api.search import ProblemHit, SearchQuery
from itsm_kit.api import Actor, Ident, IfMatch, answer
from itsm_kit.runtime import UnitOfWorkDep
from itsm_problems import handlers
from itsm_problems.domain import State

router = APIRouter(prefix="/problems", tags=["problems"])


@router.get("/search", response_model=list[ProblemHit],  # before /{problem_id}
            summary="The problems a text finds, best first (words, misspellings, the number)")
async def search_problems(uow: UnitOfWorkDep, query: Annotated[SearchQuery, Query()]) -> list[ProblemHit]:
    return [ProblemHit(**hit) for hit in await handlers.search_problems(uow, query.q, limit=query.limit)]


@router.post("", response_model=ProblemPublic, status_code=201, summary="Open a problem")
async def open_problem(body: ProblemCreate, uow: UnitOfWorkDep, response: Response, actor: Actor) -> ProblemPublic:
    problem = await handlers.open_problem(uow, opened_by=actor, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{problem.id}"
    return answer(response, ProblemPublic, problem)


@router.get("/{problem_id}", response_model=ProblemPublic,
            summary="A problem, with the business services its affected CIs serve")
async def get_problem(problem_id: Ident, uow: UnitOfWorkDep, response: Response) -> ProblemPublic:
    problem, services = await handlers.get_problem(uow, problem_id)
    shown = answer(response, ProblemPublic, problem)
    shown.business_services = [BusinessServiceRef(**s) for s in services]
    return shown


@router.get("", response_model=ProblemPage, summary="List problems, newest first (filters, cursor pagination)")
async def list_problems(uow: UnitOfWorkDep, query: Annotated[ProblemQuery, Query()]) -> ProblemPage:
    items, next_cursor = await handlers.list_problems(uow, **query.model_dump())
    return ProblemPage(items=[ProblemPublic.model_validate(p, from_attributes=True) for p in items],
                       next_cursor=next_cursor)


@router.patch("/{problem_id}", response_model=ProblemPublic, summary="Change fields of a problem")
async def update_problem(problem_id: Ident, body: ProblemUpdate, uow: UnitOfWorkDep, response: Response,
                         if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.update_problem(uow, problem_id, body.changes(), actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/state", response_model=ProblemPublic, summary="Move a problem to another state")
async def move_problem(problem_id: Ident, body: ProblemMove, uow: UnitOfWorkDep, response: Response,
                       if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.move_problem(uow, problem_id, state=State(body.state), actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/root-cause", response_model=ProblemPublic,
             summary="Write down the root cause (in assess, root cause analysis or fix in progress)")
async def identify_root_cause(problem_id: Ident, body: RootCause, uow: UnitOfWorkDep, response: Response,
                              if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.identify_root_cause(uow, problem_id, description=body.description,
                                                 cause_code=body.cause_code, actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/resolve", response_model=ProblemPublic,
             summary="Resolve the problem with a resolution (fix_applied needs a root cause)")
async def resolve_problem(problem_id: Ident, body: ProblemResolution, uow: UnitOfWorkDep, response: Response,
                          if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.resolve_problem(uow, problem_id, **body.model_dump(), actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/close", response_model=ProblemPublic, summary="Close a resolved problem")
async def close_problem(problem_id: Ident, uow: UnitOfWorkDep, response: Response, if_match: IfMatch,
                        actor: Actor) -> ProblemPublic:
    return answer(response, ProblemPublic, await handlers.close_problem(uow, problem_id, actor=actor,
                                                                        if_match=if_match))


@router.post("/{problem_id}/incidents", response_model=ProblemPublic,
             summary="Link an incident to the problem (linking it again changes nothing)")
async def link_incident(problem_id: Ident, body: IncidentLink, uow: UnitOfWorkDep, response: Response,
                        if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.link_incident(uow, problem_id, body.incident_id, actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.delete("/{problem_id}/incidents/{incident_id}", response_model=ProblemPublic,
               summary="Unlink an incident from the problem (one not linked changes nothing)")
async def unlink_incident(problem_id: Ident, incident_id: Ident, uow: UnitOfWorkDep, response: Response,
                          if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.unlink_incident(uow, problem_id, incident_id, actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/comments", response_model=ProblemPublic, summary="Add a comment")
async def add_comment(problem_id: Ident, body: NoteCreate, uow: UnitOfWorkDep, response: Response,
                      actor: Actor) -> ProblemPublic:
    return answer(response, ProblemPublic, await handlers.add_comment(uow, problem_id, text=body.text, actor=actor))


@router.post("/{problem_id}/work-notes", response_model=ProblemPublic, summary="Add an internal work note")
async def add_work_note(problem_id: Ident, body: NoteCreate, uow: UnitOfWorkDep, response: Response,
                        actor: Actor) -> ProblemPublic:
    return answer(response, ProblemPublic, await handlers.add_work_note(uow, problem_id, text=body.text,
                                                                        actor=actor))


@router.get("/{problem_id}/activity", response_model=ProblemActivityPage,
            summary="The problem's timeline, newest first: changes, comments, work notes")
async def list_activity(problem_id: Ident, uow: UnitOfWorkDep, cursor: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ProblemActivityPage:
    items, next_cursor = await handlers.activity(uow, problem_id, limit=limit, cursor=cursor)
    return ProblemActivityPage(items=[ProblemActivityEntry(**e) for e in items], next_cursor=next_cursor)


# -- known errors ------------------------------------------------------------------------------

@router.post("/{problem_id}/known-error", response_model=KnownErrorPublic,
             summary="Publish the problem as a known error, or revise the one it has",
             description="Needs the root cause written down. The open linked incidents get the workaround as a "
                         "work note, through the itsm.problem.known_error_published event. If-Match names the "
                         "problem's version.")
async def publish_known_error(problem_id: Ident, body: KnownErrorPublish, uow: UnitOfWorkDep, response: Response,
                              if_match: IfMatch, actor: Actor) -> KnownErrorPublic:
    known = await handlers.publish_known_error(uow, problem_id, **body.model_dump(), actor=actor, if_match=if_match)
    response.headers["Location"] = f"{known_errors_router.prefix}/{known.id}"
    return answer(response, KnownErrorPublic, known)


@router.get("/{problem_id}/known-error", response_model=KnownErrorPublic, summary="The problem's known error")
async def get_known_error_of_problem(problem_id: Ident, uow: UnitOfWorkDep, response: Response) -> KnownErrorPublic:
    return answer(response, KnownErrorPublic, await handlers.known_error_of(uow, problem_id))


known_errors_router = APIRouter(prefix="/known-errors", tags=["known errors"])


@known_errors_router.get("", response_model=KnownErrorPage, summary="List known errors, newest published first")
async def list_known_errors(uow: UnitOfWorkDep, query: Annotated[KnownErrorQuery, Query()]) -> KnownErrorPage:
    items, next_cursor = await handlers.list_known_errors(uow, **query.model_dump())
    return KnownErrorPage(items=[KnownErrorPublic.model_validate(k, from_attributes=True) for k in items],
                          next_cursor=next_cursor)


@known_errors_router.get("/{known_error_id}", response_model=KnownErrorPublic, summary="A known error")
async def get_known_error(known_error_id: Ident, uow: UnitOfWorkDep, response: Response) -> KnownErrorPublic:
    return answer(response, KnownErrorPublic, await handlers.get_known_error(uow, known_error_id))


@known_errors_router.post("/{known_error_id}/retire", response_model=KnownErrorPublic,
                          summary="Retire a known error: its workaround is no longer offered")
async def retire_known_error(known_error_id: Ident, body: KnownErrorRetire, uow: UnitOfWorkDep, response: Response,
                             if_match: IfMatch, actor: Actor) -> KnownErrorPublic:
    known = await handlers.retire_known_error(uow, known_error_id, reason=body.reason, actor=actor,
                                              if_match=if_match)
    return answer(response, KnownErrorPublic, known)


# -- detection rules, link suggestions, reports ---------------------------------------------------

detection_router = APIRouter(tags=["detection"])
MAX_SEARCH_QUERY = 2_000  # characters: a summary and a description's start, as incidents are searched
IncidentRef = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                                   description="an incident id")]


@detection_router.get("/detection-rules", response_model=DetectionRuleList, summary="Every detection rule")
async def list_detection_rules(uow: UnitOfWorkDep) -> DetectionRuleList:
    rules = await handlers.list_detection_rules(uow)
    return DetectionRuleList(items=[DetectionRulePublic.model_validate(r, from_attributes=True) for r in rules])


@detection_router.post("/detection-rules", response_model=DetectionRulePublic, status_code=201,
                       summary="Add a detection rule")
async def create_detection_rule(body: DetectionRuleCreate, uow: UnitOfWorkDep, response: Response,
                                actor: Actor) -> DetectionRulePublic:
    rule = await handlers.create_detection_rule(uow, actor=actor, **body.model_dump())
    response.headers["Location"] = f"/detection-rules/{rule.id}"
    return answer(response, DetectionRulePublic, rule)


@detection_router.get("/detection-rules/{rule_id}", response_model=DetectionRulePublic, summary="A detection rule")
async def get_detection_rule(rule_id: Ident, uow: UnitOfWorkDep, response: Response) -> DetectionRulePublic:
    return answer(response, DetectionRulePublic, await handlers.get_detection_rule(uow, rule_id))


@detection_router.patch("/detection-rules/{rule_id}", response_model=DetectionRulePublic,
                        summary="Change a detection rule (its dimension stays: add another rule for another)")
async def update_detection_rule(rule_id: Ident, body: DetectionRuleUpdate, uow: UnitOfWorkDep, response: Response,
                                if_match: IfMatch, actor: Actor) -> DetectionRulePublic:
    rule = await handlers.update_detection_rule(uow, rule_id, body.changes(), actor=actor, if_match=if_match)
    return answer(response, DetectionRulePublic, rule)


@detection_router.delete("/detection-rules/{rule_id}", status_code=204,
                         summary="Remove a detection rule (the problems it opened keep its id)")
async def delete_detection_rule(rule_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await handlers.delete_detection_rule(uow, rule_id, if_match=if_match)
    return Response(status_code=204)


@detection_router.get("/link-suggestions", response_model=LinkSuggestionList,
                      summary="The open problems suggested for an incident when it was opened, best first")
async def list_link_suggestions(incident_id: IncidentRef, uow: UnitOfWorkDep) -> LinkSuggestionList:
    return LinkSuggestionList(items=[LinkSuggestion(**r) for r in await handlers.stored_suggestions(uow, incident_id)])


@detection_router.get("/link-suggestions/search", response_model=LinkSuggestionList,
                      summary="The open problems (and known errors) a text matches best, ranked now")
async def search_link_suggestions(uow: UnitOfWorkDep, text: Annotated[str, Query(
        min_length=1, max_length=MAX_SEARCH_QUERY, description="an incident's words")]) -> LinkSuggestionList:
    return LinkSuggestionList(items=[LinkSuggestion(**r) for r in await handlers.search_suggestions(uow, text)])


@detection_router.get("/reports/problems/aging", response_model=ProblemAgingReport,
                      summary="Problems per state, by age (from when they were opened)")
async def problem_aging_report(uow: UnitOfWorkDep) -> ProblemAgingReport:
    return ProblemAgingReport(**await handlers.problem_aging(uow))


@detection_router.get("/known-errors/{known_error_id}/impact", response_model=KnownErrorImpactReport,
                      summary="Incidents per ISO week on the known error's CIs, before and after it was published")
async def known_error_impact_report(known_error_id: Ident, uow: UnitOfWorkDep,
                                    weeks: Annotated[int, Query(ge=1, le=52)] = 8) -> KnownErrorImpactReport:
    return KnownErrorImpactReport(**await handlers.known_error_impact(uow, known_error_id, weeks=weeks))
