"""Change requests for frontends: the changes service's records, typed.

Agents request, edit and move changes; only a change manager decides on one awaiting authorization.
Every write upstream names who acts (the JWT subject) in the gateway's signature; the changes
service takes no call the gateway did not sign.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.changes import (
    ApprovalPolicyCreate, ApprovalPolicyList, ApprovalPolicyPublic, ApprovalPolicyUpdate, CalendarFeedCreated,
    CalendarFeedPublic, CalendarQuery, ChangeActivityPage, ChangeCalendar, ChangeClose, ChangeCreate, ChangeDecision,
    ChangeMove, ChangePage, ChangePublic, ChangeQuery, ChangeTemplateCreate, ChangeTemplateList, ChangeTemplatePublic,
    ChangeTemplateUpdate, ChangeUpdate, ChangeWindowCreate, ChangeWindowPublic, ChangeWindowQuery, ChangeWindowUpdate,
    DeploymentRecord, SuccessRate, SuccessRateQuery,
)
from itsm_contracts.api.values import Instant
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.errors import Problem
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, AgentUser, ChangeManagerUser, RoleRoute, integration_of, limits, source_of
from itsm_gateway.upstream import Passage, call

router = APIRouter(prefix="/changes", tags=["changes"], route_class=RoleRoute)
changes = Passage("changes", "/api/v1")


@router.post("", response_model=ChangePublic, status_code=201,
             summary="Request a change (standard, normal or emergency; planned_end after planned_start)")
async def request_change(body: ChangeCreate, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await changes.send(runtime, response, "POST", "/changes", body, actor=user)


@router.get("", response_model=ChangePage,
            summary="List change requests, newest first: by state, assignment, affected CI, planned start")
async def list_changes(request: Request, runtime: RuntimeDep, user: AgentUser,
                       query: Annotated[ChangeQuery, Query()]) -> dict:
    return await changes.read(runtime, request, "/changes")


@router.get("/{change_id}", response_model=ChangePublic, summary="A change request (its version is the ETag)")
async def get_change(change_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                     response: Response) -> dict:
    return await changes.read(runtime, request, f"/changes/{change_id}", response)


@router.patch("/{change_id}", response_model=ChangePublic,
              summary="Change fields: description, planned window, assignment, affected CIs")
async def update_change(change_id: Ident, body: ChangeUpdate, runtime: RuntimeDep, user: AgentUser,
                        response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "PATCH", f"/changes/{change_id}", body, actor=user,
                              if_match=if_match)


@router.post("/{change_id}/state", response_model=ChangePublic,
             summary="Move a change along its type's path; into authorize submits it for approval")
async def move_change(change_id: Ident, body: ChangeMove, runtime: RuntimeDep, user: AgentUser,
                      response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "POST", f"/changes/{change_id}/state", body, actor=user,
                              if_match=if_match)


@router.post("/{change_id}/approvals", response_model=ChangePublic,
             summary="Approve (it is scheduled) or reject (back to new, with a comment) a change awaiting approval")
async def decide_change(change_id: Ident, body: ChangeDecision, runtime: RuntimeDep, user: ChangeManagerUser,
                        response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "POST", f"/changes/{change_id}/approvals", body, actor=user,
                              if_match=if_match)


# -- risk (issue 15): reassess now; the change success rate --------------------------------------------------------

change_reports = APIRouter(prefix="/reports/changes", tags=["changes"], route_class=RoleRoute)


@router.post("/{change_id}/risk", response_model=ChangePublic,
             summary="Reassess a change's risk now (before approval): dependent business services and critical CIs, "
                     "failed changes, open P1/P2 incidents, the window; the factors say why")
async def update_change_risk(change_id: Ident, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await changes.send(runtime, response, "POST", f"/changes/{change_id}/risk", None, actor=user)


@change_reports.get("/success-rate", response_model=SuccessRate,
                    summary="Closed changes' outcomes (close codes) per CI, assignment group or change type")
async def get_change_success_rate(request: Request, runtime: RuntimeDep, user: AgentUser,
                                  query: Annotated[SuccessRateQuery, Query()]) -> dict:
    return await changes.read(runtime, request, "/reports/changes/success-rate")


# -- lifecycle (issue 15): closing, the timeline, standard change templates, approval policies -----------------

@router.post("/{change_id}/close", response_model=ChangePublic,
             summary="Close a change after review with its result: successful, successful_with_issues, unsuccessful, "
                     "backed_out")
async def close_change(change_id: Ident, body: ChangeClose, runtime: RuntimeDep, user: AgentUser,
                       response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "POST", f"/changes/{change_id}/close", body, actor=user,
                              if_match=if_match)


@router.get("/{change_id}/activity", response_model=ChangeActivityPage,
            summary="The change's timeline, newest first: field changes, moves, approval decisions (cursor pagination)")
async def list_change_activity(change_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                               cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    return await changes.read(runtime, request, f"/changes/{change_id}/activity")


change_templates = APIRouter(prefix="/change-templates", tags=["change templates"], route_class=RoleRoute)


@change_templates.get("", response_model=ChangeTemplateList,
                      summary="Standard change templates (pre-authorized changes), by name")
async def list_change_templates(request: Request, runtime: RuntimeDep, user: AgentUser,
                                active: bool | None = None) -> dict:
    return await changes.read(runtime, request, "/change-templates")


@change_templates.post("", response_model=ChangeTemplatePublic, status_code=201,
                       summary="Add a standard change template")
async def create_change_template(body: ChangeTemplateCreate, runtime: RuntimeDep, user: AdminUser,
                                 response: Response) -> dict:
    return await changes.send(runtime, response, "POST", "/change-templates", body, actor=user)


@change_templates.get("/{template_id}", response_model=ChangeTemplatePublic,
                      summary="A standard change template (version = ETag)")
async def get_change_template(template_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                              response: Response) -> dict:
    return await changes.read(runtime, request, f"/change-templates/{template_id}", response)


@change_templates.patch("/{template_id}", response_model=ChangeTemplatePublic,
                        summary="Change a standard change template (active: false stops new changes from it)")
async def update_change_template(template_id: Ident, body: ChangeTemplateUpdate, runtime: RuntimeDep,
                                 user: AdminUser, response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "PATCH", f"/change-templates/{template_id}", body, actor=user,
                              if_match=if_match)


approval_policies = APIRouter(prefix="/change-approval-policies", tags=["change approval policies"],
                              route_class=RoleRoute)


@approval_policies.get("", response_model=ApprovalPolicyList,
                       summary="Who authorizes changes, per change type and risk, and their rule (any, all, majority)")
async def list_change_approval_policies(request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await changes.read(runtime, request, "/change-approval-policies")


@approval_policies.post("", response_model=ApprovalPolicyPublic, status_code=201,
                        summary="Add an approval policy (one per change type and risk level, or any risk)")
async def create_change_approval_policy(body: ApprovalPolicyCreate, runtime: RuntimeDep, user: AdminUser,
                                        response: Response) -> dict:
    return await changes.send(runtime, response, "POST", "/change-approval-policies", body, actor=user)


@approval_policies.get("/{policy_id}", response_model=ApprovalPolicyPublic,
                       summary="An approval policy (version = ETag)")
async def get_change_approval_policy(policy_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                                     response: Response) -> dict:
    return await changes.read(runtime, request, f"/change-approval-policies/{policy_id}", response)


@approval_policies.patch("/{policy_id}", response_model=ApprovalPolicyPublic,
                         summary="Change an approval policy: group name, approvers, rule")
async def update_change_approval_policy(policy_id: Ident, body: ApprovalPolicyUpdate, runtime: RuntimeDep,
                                        user: AdminUser, response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "PATCH", f"/change-approval-policies/{policy_id}", body,
                              actor=user, if_match=if_match)


@approval_policies.delete("/{policy_id}", status_code=204, response_class=Response,
                          summary="Remove an approval policy (its changes then fall back to the policy for any risk)")
async def delete_change_approval_policy(policy_id: Ident, runtime: RuntimeDep, user: AdminUser,
                                        if_match: IfMatchHeader = None) -> Response:
    await call(runtime, "changes", "DELETE", f"/change-approval-policies/{policy_id}", actor=user,
               headers={"if-match": if_match} if if_match else {})
    return Response(status_code=204)


# -- schedule (issue 15): blackout and maintenance windows, the change calendar and its feed, deployments ---------
#
# Subscribing: calendar apps cannot send a bearer token, so a signed-in agent mints a calendar feed key
# (POST /changes/calendar/feeds) and subscribes to the URL it is given, .../calendar.ics?key=<key> (or, for apps
# that take a user name and password, the key as basic auth's password). The key reads the change calendar and
# nothing else; only its hash is kept; its owner lists and revokes it (DELETE /changes/calendar/feeds/{id}).

schedule = APIRouter(prefix="/changes", tags=["change schedule"], route_class=RoleRoute)  # before `router`
change_windows = APIRouter(prefix="/change-windows", tags=["change schedule"], route_class=RoleRoute)
FEED_KEY_HEADER = "x-calendar-feed-key"
FEED_KEY_SHAPE = re.compile(r"cal_[A-Za-z0-9_-]{16,100}")  # as the changes service mints them
ICS_PATH = "/api/v1/changes/calendar.ics"
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@schedule.get("/calendar", response_model=ChangeCalendar, response_model_by_alias=True,
              summary="The change calendar for a period (at most 366 days): planned changes (scheduled to review), "
                      "blackout and maintenance windows")
async def get_change_calendar(request: Request, runtime: RuntimeDep, user: AgentUser,
                              query: Annotated[CalendarQuery, Query()]) -> dict:
    return await changes.read(runtime, request, "/changes/calendar")


def _feed_key(request: Request, key: str | None) -> str | None:
    if key:
        return key
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[2] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


@schedule.get(
    "/calendar.ics", response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "an iCalendar (RFC 5545) feed"},
               # No bearer token here (so no security requirement): the feed key's own refusals, documented.
               401: {"description": "no calendar feed key, or one that is unknown or revoked", "content": PROBLEM},
               429: {"description": "too many wrong keys from this source: wait Retry-After", "content": PROBLEM}},
    summary="The change calendar as an iCalendar feed to subscribe to, with a calendar feed key (no bearer token)",
    description="Authenticated by a calendar feed key (POST /api/v1/changes/calendar/feeds), as `key` in the URL "
                "or as basic auth's password. The period defaults to a month back and eleven months ahead.")
async def get_change_calendar_feed(request: Request, runtime: RuntimeDep,
                                   key: Annotated[str | None, Query(max_length=200)] = None,
                                   from_: Annotated[Instant | None, Query(alias="from")] = None,
                                   to: Instant | None = None) -> Response:
    presented, source = _feed_key(request, key), source_of(request)
    if not presented:
        raise Problem(401, "Unauthorized", "a calendar feed key is required (POST /api/v1/changes/calendar/feeds "
                      "mints one): subscribe to the URL it gives")
    limits(runtime).check_source(source, 429)
    if not FEED_KEY_SHAPE.fullmatch(presented):  # not one we mint (and no header could carry some of them)
        limits(runtime).failed(source)
        raise Problem(401, "Unauthorized", "unknown or revoked calendar feed key")
    params = [(name, value.isoformat()) for name, value in (("from", from_), ("to", to)) if value is not None]
    try:
        upstream = await call(runtime, "changes", "GET", "/changes/calendar.ics", params=params,
                              headers={FEED_KEY_HEADER: presented})
    except Problem as exc:
        if exc.status == 404:
            limits(runtime).failed(source)
            raise Problem(401, "Unauthorized", "unknown or revoked calendar feed key") from None
        raise
    return Response(upstream.content, media_type=upstream.headers.get("content-type", "text/calendar"),
                    headers={"cache-control": "private, max-age=300"})


@schedule.post("/calendar/feeds", response_model=CalendarFeedCreated, status_code=201,
               summary="Mint a calendar feed key (read-only, the change calendar only) and its subscription URL")
async def create_calendar_feed(request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    created = (await call(runtime, "changes", "POST", "/calendar-feeds", actor=user)).json()
    base = str(request.base_url).rstrip("/")
    return {**created, "url": f"{base}{ICS_PATH}?key={created['key']}"}


@schedule.get("/calendar/feeds", response_model=list[CalendarFeedPublic], summary="Your calendar feeds")
async def list_calendar_feeds(request: Request, runtime: RuntimeDep, user: AgentUser) -> list:
    return await changes.read(runtime, request, "/calendar-feeds", actor=user, params=[])


@schedule.delete("/calendar/feeds/{feed_id}", response_model=CalendarFeedPublic,
                 summary="Revoke one of your calendar feeds: its URL stops working at once")
async def revoke_calendar_feed(feed_id: Ident, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await changes.send(runtime, response, "DELETE", f"/calendar-feeds/{feed_id}", None, actor=user)


@schedule.post("/deployments", response_model=ChangePublic, status_code=201,
               responses={200: {"model": ChangePublic, "description": "this deployment_id was recorded before"},
                          # An integration key, not a bearer token (so no security requirement): its refusals.
                          401: {"description": "no integration key, or one unknown or revoked", "content": PROBLEM},
                          403: {"description": "the key is not a deployment integration's", "content": PROBLEM}},
               summary="Record a CI/CD deployment on a CI as an implemented standard change (integration key of "
                       "kind deployment; once per deployment_id)")
async def record_deployment(body: DeploymentRecord, runtime: RuntimeDep, response: Response,
                            integration: Annotated[dict, integration_of("deployment")]) -> dict:
    upstream = await call(runtime, "changes", "POST", "/changes/deployments", actor=f"integration:{integration['id']}",
                          json=body.model_dump(mode="json"))
    response.status_code = upstream.status_code  # 201 recorded now, 200 recorded before
    return changes.relay(upstream, response)


@change_windows.post("", response_model=ChangeWindowPublic, status_code=201,
                     summary="Create a blackout (freeze) or maintenance window, over some CIs or all")
async def create_change_window(body: ChangeWindowCreate, runtime: RuntimeDep, user: AdminUser,
                               response: Response) -> dict:
    return await changes.send(runtime, response, "POST", "/change-windows", body, actor=user)


@change_windows.get("", response_model=list[ChangeWindowPublic],
                    summary="Blackout and maintenance windows overlapping a period, soonest first")
async def list_change_windows(request: Request, runtime: RuntimeDep, user: AgentUser,
                              query: Annotated[ChangeWindowQuery, Query()]) -> list:
    return await changes.read(runtime, request, "/change-windows")


@change_windows.get("/{window_id}", response_model=ChangeWindowPublic, summary="A window (its version is the ETag)")
async def get_change_window(window_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                            response: Response) -> dict:
    return await changes.read(runtime, request, f"/change-windows/{window_id}", response)


@change_windows.patch("/{window_id}", response_model=ChangeWindowPublic,
                      summary="Change a window's name, period, CIs or reason (If-Match)")
async def update_change_window(window_id: Ident, body: ChangeWindowUpdate, runtime: RuntimeDep, user: AdminUser,
                               response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "PATCH", f"/change-windows/{window_id}", body, actor=user,
                              if_match=if_match)


@change_windows.delete("/{window_id}", status_code=204, summary="Delete a window (If-Match)")
async def delete_change_window(window_id: Ident, runtime: RuntimeDep, user: AdminUser, response: Response,
                               if_match: IfMatchHeader = None) -> None:
    await changes.send(runtime, response, "DELETE", f"/change-windows/{window_id}", None, actor=user,
                       if_match=if_match)
