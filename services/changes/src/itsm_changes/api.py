"""The changes HTTP API (internal; clients reach it through the gateway).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject,
the caller's JWT subject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from itsm_contracts.api.changes import (
    ChangeCreate, ChangeDecision, ChangeMove, ChangePage, ChangePublic, ChangeQuery, ChangeUpdate,
)
from itsm_contracts.api.changes import (
    ApprovalPolicyCreate, ApprovalPolicyList, ApprovalPolicyPublic, ApprovalPolicyUpdate, ChangeActivityEntry,
    ChangeActivityPage, ChangeClose, ChangeTemplateCreate, ChangeTemplateList, ChangeTemplatePublic,
    ChangeTemplateUpdate,
)
from itsm_contracts.api.search import ChangeHit, SearchQuery
from itsm_kit.api import Actor, Ident, IfMatch, PageSize, answer
from itsm_kit.runtime import UnitOfWorkDep
from itsm_kit.runtime import RuntimeDep  # risk (issue 15)
from itsm_contracts.api.changes import SuccessRate, SuccessRateQuery  # risk (issue 15)
from fastapi import Header  # noqa: I001  schedule (issue 15)
from itsm_contracts.api.changes import (
    CalendarChange, CalendarFeedCreated, CalendarFeedPublic, CalendarQuery, ChangeCalendar, ChangeWindowCreate,
    ChangeWindowPublic, ChangeWindowQuery, ChangeWindowUpdate, DeploymentRecord,
)
from itsm_contracts.api.values import Instant
from itsm_kit.clock import utcnow
from itsm_changes.ical import calendar_ics
from itsm_changes import handlers
from itsm_changes.domain import State

router = APIRouter(prefix="/changes", tags=["changes"])


# -- search that ranks (issue 18); before /{change_id} --------------------------------------------------------------
@router.get("/search", response_model=list[ChangeHit],
            summary="The changes a text finds, best first (words, misspellings, the number)")
async def search_changes(uow: UnitOfWorkDep, query: Annotated[SearchQuery, Query()]) -> list[ChangeHit]:
    return [ChangeHit(**hit) for hit in await handlers.search_changes(uow, query.q, limit=query.limit)]


# -- risk (issue 15): the settings risk reads, recompute now; success rate ---------------------------------------

async def get_risk_policy(runtime: RuntimeDep) -> handlers.RiskPolicy:
    return handlers.RiskPolicy.of(runtime.settings)


RiskPolicyDep = Annotated[handlers.RiskPolicy, Depends(get_risk_policy)]
reports_router = APIRouter(prefix="/reports/changes", tags=["changes"])


@router.post("/{change_id}/risk", response_model=ChangePublic,
             summary="Reassess the change's risk now, from the CMDB, incidents, change history and its window "
                     "(before approval)")
async def update_change_risk(change_id: Ident, uow: UnitOfWorkDep, response: Response,
                             risk: RiskPolicyDep) -> ChangePublic:
    return answer(response, ChangePublic, await handlers.assess_risk_now(uow, change_id, risk))


@reports_router.get("/success-rate", response_model=SuccessRate,
                    summary="Closed changes' outcome (close codes) per CI, assignment group or change type")
async def get_change_success_rate(uow: UnitOfWorkDep, query: Annotated[SuccessRateQuery, Query()]) -> SuccessRate:
    return SuccessRate(by=query.by, rows=await handlers.success_rate(uow, query.by))


@router.post("", response_model=ChangePublic, status_code=201, summary="Request a change")
async def request_change(body: ChangeCreate, uow: UnitOfWorkDep, response: Response, actor: Actor,
                         risk: RiskPolicyDep) -> ChangePublic:
    change = await handlers.request_change(uow, requested_by=actor, **body.model_dump())
    change = await handlers.assess_risk_now(uow, change.id, risk)  # its first assessment (risk, issue 15)
    response.headers["Location"] = f"{router.prefix}/{change.id}"
    return answer(response, ChangePublic, change)


@router.get("/{change_id}", response_model=ChangePublic)
async def get_change(change_id: Ident, uow: UnitOfWorkDep, response: Response) -> ChangePublic:
    return answer(response, ChangePublic, await handlers.get_change(uow, change_id))


@router.get("", response_model=ChangePage, summary="List change requests, newest first (filters, cursor pagination)")
async def list_changes(uow: UnitOfWorkDep, query: Annotated[ChangeQuery, Query()]) -> ChangePage:
    items, next_cursor = await handlers.list_changes(uow, **query.model_dump())
    return ChangePage(items=[ChangePublic.model_validate(c, from_attributes=True) for c in items],
                      next_cursor=next_cursor)


@router.patch("/{change_id}", response_model=ChangePublic, summary="Change fields of a change request")
async def update_change(change_id: Ident, body: ChangeUpdate, uow: UnitOfWorkDep, response: Response,
                        if_match: IfMatch, actor: Actor, risk: RiskPolicyDep) -> ChangePublic:
    change = await handlers.update_change(uow, change_id, body.changes(), actor=actor, if_match=if_match)
    change = await handlers.reassess_after_update(uow, change, body.changes(), risk)  # risk (issue 15)
    return answer(response, ChangePublic, change)


@router.post("/{change_id}/state", response_model=ChangePublic,
             summary="Move a change along its type's path (into authorize submits it for approval)")
async def move_change(change_id: Ident, body: ChangeMove, uow: UnitOfWorkDep, response: Response,
                      if_match: IfMatch, actor: Actor) -> ChangePublic:
    change = await handlers.move_change(uow, change_id, state=State(body.state), reason=body.reason, actor=actor,
                                        if_match=if_match)
    return answer(response, ChangePublic, change)


@router.post("/{change_id}/approvals", response_model=ChangePublic,
             summary="Approve (schedules it) or reject (back to new) a change awaiting authorization")
async def decide_change(change_id: Ident, body: ChangeDecision, uow: UnitOfWorkDep, response: Response,
                        if_match: IfMatch, actor: Actor) -> ChangePublic:
    change = await handlers.decide_change(uow, change_id, decision=body.decision, comment=body.comment, actor=actor,
                                          if_match=if_match)
    return answer(response, ChangePublic, change)


# -- lifecycle (issue 15): closing, the timeline, standard change templates, approval policies -----------------

@router.post("/{change_id}/close", response_model=ChangePublic,
             summary="Close a change after review, saying how it went (close_code, close_notes)")
async def close_change(change_id: Ident, body: ChangeClose, uow: UnitOfWorkDep, response: Response,
                       if_match: IfMatch, actor: Actor) -> ChangePublic:
    change = await handlers.close_change(uow, change_id, close_code=body.close_code, close_notes=body.close_notes,
                                         actor=actor, if_match=if_match)
    return answer(response, ChangePublic, change)


@router.get("/{change_id}/activity", response_model=ChangeActivityPage,
            summary="The change's timeline, newest first: field changes, moves, approval decisions")
async def list_change_activity(change_id: Ident, uow: UnitOfWorkDep, cursor: str | None = None,
                               limit: PageSize = 50) -> ChangeActivityPage:
    items, next_cursor = await handlers.change_activity(uow, change_id, limit=limit, cursor=cursor)
    return ChangeActivityPage(items=[ChangeActivityEntry(**e) for e in items], next_cursor=next_cursor)


templates = APIRouter(prefix="/change-templates", tags=["change templates"])


@templates.get("", response_model=ChangeTemplateList, summary="Standard change templates, by name")
async def list_change_templates(uow: UnitOfWorkDep, active: bool | None = None) -> ChangeTemplateList:
    items = await handlers.list_templates(uow, active=active)
    return ChangeTemplateList(items=[ChangeTemplatePublic.model_validate(t, from_attributes=True) for t in items])


@templates.post("", response_model=ChangeTemplatePublic, status_code=201, summary="Add a standard change template")
async def create_change_template(body: ChangeTemplateCreate, uow: UnitOfWorkDep, response: Response,
                                 actor: Actor) -> ChangeTemplatePublic:
    template = await handlers.create_template(uow, actor=actor, **body.model_dump())
    response.headers["Location"] = f"{templates.prefix}/{template.id}"
    return answer(response, ChangeTemplatePublic, template)


@templates.get("/{template_id}", response_model=ChangeTemplatePublic, summary="A standard change template")
async def get_change_template(template_id: Ident, uow: UnitOfWorkDep, response: Response) -> ChangeTemplatePublic:
    return answer(response, ChangeTemplatePublic, await handlers.get_template(uow, template_id))


@templates.patch("/{template_id}", response_model=ChangeTemplatePublic,
                 summary="Change a template (active: false stops new changes from it)")
async def update_change_template(template_id: Ident, body: ChangeTemplateUpdate, uow: UnitOfWorkDep,
                                 response: Response, if_match: IfMatch, actor: Actor) -> ChangeTemplatePublic:
    template = await handlers.update_template(uow, template_id, body.changes(), actor=actor, if_match=if_match)
    return answer(response, ChangeTemplatePublic, template)


policies = APIRouter(prefix="/change-approval-policies", tags=["change approval policies"])


@policies.get("", response_model=ApprovalPolicyList, summary="Approval policies, by change type and risk")
async def list_approval_policies(uow: UnitOfWorkDep) -> ApprovalPolicyList:
    items = await handlers.list_policies(uow)
    return ApprovalPolicyList(items=[ApprovalPolicyPublic.model_validate(p, from_attributes=True) for p in items])


@policies.post("", response_model=ApprovalPolicyPublic, status_code=201,
               summary="Add an approval policy (one per change type and risk)")
async def create_approval_policy(body: ApprovalPolicyCreate, uow: UnitOfWorkDep, response: Response,
                                 actor: Actor) -> ApprovalPolicyPublic:
    policy = await handlers.create_policy(uow, actor=actor, **body.model_dump())
    response.headers["Location"] = f"{policies.prefix}/{policy.id}"
    return answer(response, ApprovalPolicyPublic, policy)


@policies.get("/{policy_id}", response_model=ApprovalPolicyPublic, summary="An approval policy")
async def get_approval_policy(policy_id: Ident, uow: UnitOfWorkDep, response: Response) -> ApprovalPolicyPublic:
    return answer(response, ApprovalPolicyPublic, await handlers.get_policy(uow, policy_id))


@policies.patch("/{policy_id}", response_model=ApprovalPolicyPublic,
                summary="Change an approval policy: group name, approvers, rule")
async def update_approval_policy(policy_id: Ident, body: ApprovalPolicyUpdate, uow: UnitOfWorkDep,
                                 response: Response, if_match: IfMatch, actor: Actor) -> ApprovalPolicyPublic:
    policy = await handlers.update_policy(uow, policy_id, body.changes(), actor=actor, if_match=if_match)
    return answer(response, ApprovalPolicyPublic, policy)


@policies.delete("/{policy_id}", status_code=204, summary="Remove an approval policy")
async def delete_approval_policy(policy_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await handlers.delete_policy(uow, policy_id, if_match=if_match)
    return Response(status_code=204)


# -- schedule (issue 15): blackout and maintenance windows, the change calendar and its feeds, deployments ---------

schedule = APIRouter(prefix="/changes", tags=["change schedule"])  # mounted before `router`: /changes/{id} is no id
windows = APIRouter(prefix="/change-windows", tags=["change schedule"])
feeds = APIRouter(prefix="/calendar-feeds", tags=["change schedule"])
FEED_KEY_HEADER = "x-calendar-feed-key"


def _calendar(planned: list, windows_: list, query: CalendarQuery) -> ChangeCalendar:
    return ChangeCalendar.model_validate({
        "from": query.from_, "to": query.to,
        "changes": [CalendarChange.model_validate(c, from_attributes=True) for c in planned],
        "windows": [ChangeWindowPublic.model_validate(w, from_attributes=True) for w in windows_]})


@schedule.get("/calendar", response_model=ChangeCalendar, response_model_by_alias=True,
              summary="The change calendar for a period: planned changes (scheduled to review) and windows")
async def get_change_calendar(uow: UnitOfWorkDep, query: Annotated[CalendarQuery, Query()]) -> ChangeCalendar:
    planned, found = await handlers.calendar(uow, start=query.from_, end=query.to)
    return _calendar(planned, found, query)


@schedule.get("/calendar.ics", response_class=Response,
              responses={200: {"content": {"text/calendar": {}}, "description": "an iCalendar (RFC 5545) feed"}},
              summary="The change calendar as iCalendar, for the owner of the feed key (X-Calendar-Feed-Key)")
async def get_change_calendar_ics(uow: UnitOfWorkDep, feed_key: Annotated[str, Header(alias=FEED_KEY_HEADER)],
                                  from_: Annotated[Instant | None, Query(alias="from")] = None,
                                  to: Instant | None = None) -> Response:
    await handlers.feed_owner(uow, feed_key)
    start, end = handlers.feed_period(from_, to, utcnow())
    planned, found = await handlers.calendar(uow, start=start, end=end)
    return Response(calendar_ics(planned, found, at=utcnow()), media_type="text/calendar; charset=utf-8")


@schedule.post("/deployments", response_model=ChangePublic, status_code=201,
               responses={200: {"model": ChangePublic, "description": "this deployment id was recorded before"}},
               summary="Record a CI/CD deployment on a CI as an implemented standard change (once per deployment id)")
async def record_deployment(body: DeploymentRecord, uow: UnitOfWorkDep, response: Response,
                            actor: Actor) -> ChangePublic:
    change, new = await handlers.record_deployment(uow, actor=actor, **body.model_dump())
    response.status_code = 201 if new else 200
    response.headers["Location"] = f"{router.prefix}/{change.id}"
    return answer(response, ChangePublic, change)


@windows.post("", response_model=ChangeWindowPublic, status_code=201, summary="Create a blackout or maintenance window")
async def create_change_window(body: ChangeWindowCreate, uow: UnitOfWorkDep, response: Response,
                               actor: Actor) -> ChangeWindowPublic:
    window = await handlers.create_window(uow, actor=actor, **body.model_dump())
    response.headers["Location"] = f"{windows.prefix}/{window.id}"
    return answer(response, ChangeWindowPublic, window)


@windows.get("", response_model=list[ChangeWindowPublic], summary="Windows overlapping a period, soonest first")
async def list_change_windows(uow: UnitOfWorkDep, query: Annotated[ChangeWindowQuery, Query()]
                              ) -> list[ChangeWindowPublic]:
    found = await handlers.list_windows(uow, kind=query.kind, start=query.from_, end=query.to, limit=query.limit)
    return [ChangeWindowPublic.model_validate(w, from_attributes=True) for w in found]


@windows.get("/{window_id}", response_model=ChangeWindowPublic)
async def get_change_window(window_id: Ident, uow: UnitOfWorkDep, response: Response) -> ChangeWindowPublic:
    return answer(response, ChangeWindowPublic, await handlers.get_window(uow, window_id))


@windows.patch("/{window_id}", response_model=ChangeWindowPublic, summary="Change a window (If-Match)")
async def update_change_window(window_id: Ident, body: ChangeWindowUpdate, uow: UnitOfWorkDep, response: Response,
                               if_match: IfMatch) -> ChangeWindowPublic:
    window = await handlers.update_window(uow, window_id, body.changes(), if_match=if_match)
    return answer(response, ChangeWindowPublic, window)


@windows.delete("/{window_id}", status_code=204, summary="Delete a window (If-Match)")
async def delete_change_window(window_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> None:
    await handlers.delete_window(uow, window_id, if_match=if_match)


@feeds.post("", response_model=CalendarFeedCreated, status_code=201,
            summary="Mint a calendar feed key for the caller (the key is shown only now)")
async def create_calendar_feed(uow: UnitOfWorkDep, actor: Actor) -> CalendarFeedCreated:
    feed, key = await handlers.create_feed(uow, owner=actor)
    return CalendarFeedCreated(**feed, key=key, url=f"/changes/calendar.ics?key={key}")


@feeds.get("", response_model=list[CalendarFeedPublic], summary="The caller's calendar feeds, revoked ones included")
async def list_calendar_feeds(uow: UnitOfWorkDep, actor: Actor) -> list[CalendarFeedPublic]:
    return [CalendarFeedPublic(**f) for f in await handlers.list_feeds(uow, owner=actor)]


@feeds.delete("/{feed_id}", response_model=CalendarFeedPublic, summary="Revoke one of the caller's calendar feeds")
async def revoke_calendar_feed(feed_id: Ident, uow: UnitOfWorkDep, actor: Actor) -> CalendarFeedPublic:
    return CalendarFeedPublic(**await handlers.revoke_calendar_feed(uow, feed_id, owner=actor))
