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
    DetectionRuleCreate, DetectionRuleList, DetectionRulePublic, DetectionRuleUpdate, IncidentLink,
    KnownErrorImpactReport, KnownErrorPage, KnownErrorPublic, KnownErrorPublish, KnownErrorQuery, KnownErrorRetire,
    LinkSuggestionList, ProblemActivityPage, ProblemAgingReport, ProblemCreate, ProblemMove, ProblemPage,
    ProblemPublic, ProblemQuery, ProblemResolution, ProblemUpdate, RootCause,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, AgentUser, RoleRoute
from itsm_gateway.upstream import Passage, call

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


@router.post("/{problem_id}/known-error", response_model=KnownErrorPublic,
             summary="Publish the problem as a known error, or revise the one it has",
             description="Needs the root cause written down. Each open linked incident gets the workaround as a "
                         "work note (agents see it; requesters do not). If-Match names the problem's version.")
async def publish_known_error(problem_id: Ident, body: KnownErrorPublish, runtime: RuntimeDep, user: AgentUser,
                              response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "POST", f"/problems/{problem_id}/known-error", body, actor=user,
                               if_match=if_match)


@router.get("/{problem_id}/known-error", response_model=KnownErrorPublic, summary="The problem's known error")
async def get_known_error_of_problem(problem_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                                     response: Response) -> dict:
    return await problems.read(runtime, request, f"/problems/{problem_id}/known-error", response)


@router.get("/{problem_id}/activity", response_model=ProblemActivityPage,
            summary="The problem's timeline, newest first: changes, comments, work notes (cursor pagination)")
async def list_problem_activity(problem_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                                cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    return await problems.read(runtime, request, f"/problems/{problem_id}/activity")


known_errors = APIRouter(prefix="/known-errors", tags=["known errors"], route_class=RoleRoute)


@known_errors.get("", response_model=KnownErrorPage,
                  summary="List known errors, newest published first: by state, by affected CI (cursor pagination)")
async def list_known_errors(request: Request, runtime: RuntimeDep, user: AgentUser,
                            query: Annotated[KnownErrorQuery, Query()]) -> dict:
    return await problems.read(runtime, request, "/known-errors")


@known_errors.get("/{known_error_id}", response_model=KnownErrorPublic,
                  summary="A known error: symptoms, workaround, root cause, affected CIs")
async def get_known_error(known_error_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                          response: Response) -> dict:
    return await problems.read(runtime, request, f"/known-errors/{known_error_id}", response)


@known_errors.post("/{known_error_id}/retire", response_model=KnownErrorPublic,
                   summary="Retire a known error: its workaround is no longer offered to incidents")
async def retire_known_error(known_error_id: Ident, body: KnownErrorRetire, runtime: RuntimeDep, user: AgentUser,
                             response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "POST", f"/known-errors/{known_error_id}/retire", body,
                               actor=user, if_match=if_match)


# -- detection rules, link suggestions, reports ----------------------------------------------------------------
# Rules decide when the platform opens problems by itself: admins write them, the desk may read them.

detection_rules = APIRouter(prefix="/detection-rules", tags=["problem detection"], route_class=RoleRoute)


@detection_rules.get("", response_model=DetectionRuleList,
                     summary="Every detection rule: N incidents on a CI, business service or category within a window")
async def list_detection_rules(request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await problems.read(runtime, request, "/detection-rules")


@detection_rules.post("", response_model=DetectionRulePublic, status_code=201, summary="Add a detection rule")
async def create_detection_rule(body: DetectionRuleCreate, runtime: RuntimeDep, user: AdminUser,
                                response: Response) -> dict:
    return await problems.send(runtime, response, "POST", "/detection-rules", body, actor=user)


@detection_rules.get("/{rule_id}", response_model=DetectionRulePublic, summary="A detection rule (version = ETag)")
async def get_detection_rule(rule_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                             response: Response) -> dict:
    return await problems.read(runtime, request, f"/detection-rules/{rule_id}", response)


@detection_rules.patch("/{rule_id}", response_model=DetectionRulePublic,
                       summary="Change a detection rule: threshold, window, enabled, what the candidate gets")
async def update_detection_rule(rule_id: Ident, body: DetectionRuleUpdate, runtime: RuntimeDep, user: AdminUser,
                                response: Response, if_match: IfMatchHeader = None) -> dict:
    return await problems.send(runtime, response, "PATCH", f"/detection-rules/{rule_id}", body, actor=user,
                               if_match=if_match)


@detection_rules.delete("/{rule_id}", status_code=204, response_class=Response,
                        summary="Remove a detection rule (the problems it opened keep its id)")
async def delete_detection_rule(rule_id: Ident, runtime: RuntimeDep, user: AdminUser,
                                if_match: IfMatchHeader = None) -> Response:
    await call(runtime, "problems", "DELETE", f"/detection-rules/{rule_id}", actor=user,
               headers={"if-match": if_match} if if_match else {})
    return Response(status_code=204)


problem_insights = APIRouter(tags=["problems"], route_class=RoleRoute)
MAX_SUGGESTION_TEXT = 2_000  # the problems service's bound on a searched text


@problem_insights.get("/incidents/{incident_id}/problem-suggestions", response_model=LinkSuggestionList,
                      summary="Open problems (and known errors) the incident may be caused by, best first",
                      description="The suggestions ranked when the incident was opened (still open problems only); "
                                  "when none are kept, its short description and description searched now.")
async def list_problem_suggestions_for_incident(incident_id: Ident, runtime: RuntimeDep, user: AgentUser) -> dict:
    kept = (await call(runtime, "problems", "GET", "/link-suggestions", actor=user,
                       params={"incident_id": incident_id})).json()
    if kept["items"]:
        return kept
    incident = (await call(runtime, "incidents", "GET", f"/incidents/{incident_id}", actor=user)).json()
    text = f"{incident['short_description']}\n{incident.get('description') or ''}"[:MAX_SUGGESTION_TEXT]
    found = (await call(runtime, "problems", "GET", "/link-suggestions/search", actor=user,
                        params={"text": text})).json()
    return {"items": [{**item, "incident_id": incident_id} for item in found["items"]]}


@problem_insights.get("/problem-suggestions", response_model=LinkSuggestionList,
                      summary="Open problems (and known errors) a text matches best: for an incident being written")
async def search_problem_suggestions(request: Request, runtime: RuntimeDep, user: AgentUser,
                                     text: Annotated[str, Query(min_length=1, max_length=MAX_SUGGESTION_TEXT)]
                                     ) -> dict:
    return await problems.read(runtime, request, "/link-suggestions/search")


@problem_insights.get("/reports/problems/aging", response_model=ProblemAgingReport,
                      summary="Problems per state, by age since opened")
async def get_problem_aging_report(request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await problems.read(runtime, request, "/reports/problems/aging")


@problem_insights.get("/known-errors/{known_error_id}/impact", response_model=KnownErrorImpactReport,
                      summary="Incidents per ISO week on a known error's CIs, the weeks before and after it was "
                              "published")
async def get_known_error_impact_report(known_error_id: Ident, request: Request, runtime: RuntimeDep,
                                        user: AgentUser, weeks: Annotated[int, Query(ge=1, le=52)] = 8) -> dict:
    return await problems.read(runtime, request, f"/known-errors/{known_error_id}/impact")
