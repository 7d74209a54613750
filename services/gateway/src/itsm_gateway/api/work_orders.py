"""Work orders through the gateway (issue 17): work-order templates (admins write, agents read) and their preview and
application on incidents, changes and requests (agents).

Before a preview or an application the gateway reads the record from its own service as the caller: a record that
does not exist, or that the caller may not see, is that service's 404 and nothing is asked of the requests service.
The record as read goes along, so the preview compares the template with what the caller sees.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.work_orders import (
    WorkOrderApplication, WorkOrderCall, WorkOrderPreview, WorkOrderRequest, WorkOrderTemplateCreate,
    WorkOrderTemplateList, WorkOrderTemplatePublic, WorkOrderTemplateQuery, WorkOrderTemplateUpdate,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.errors import check_version, if_match_version
from itsm_kit.runtime import Runtime, RuntimeDep
from itsm_gateway.access import readable_incident
from itsm_gateway.auth import AdminUser, AgentUser, RoleRoute, User
from itsm_gateway.upstream import Passage, call

router = APIRouter(tags=["work-orders"], route_class=RoleRoute)
requests_service = Passage("requests", "/api/v1")
TEMPLATES = "/work-order-templates"
PREVIEW = ("Writes nothing. Each field the template sets, from the record's value now to the template's (`changed`: "
           "false where it already has it), and the tasks it would add (a task without a group shows the group the "
           "dispatch rules would choose now, and the rule; applying decides again). `record_version`: send it as "
           "If-Match when applying. A template of another record type is a 422; an inactive one a 409; an unknown "
           "record a 404.")
APPLY = ("A command: the template's tasks are created at once (listed in the answer; a task without a group is "
         "dispatched by the rules), and the record's fields follow within moments (its own service sets them and "
         "writes a timeline line naming the template). If-Match (optional): the record's version (ETag) you last "
         "read or previewed; a 412 if the record has changed since, and nothing is applied. A template of another "
         "record type is a 422; an inactive one a 409; an unknown record a 404.")


# -- templates -----------------------------------------------------------------------------------------------------

@router.get(TEMPLATES, response_model=WorkOrderTemplateList, summary="Work-order templates, by name")
async def list_work_order_templates(request: Request, runtime: RuntimeDep, user: AgentUser,
                                    query: Annotated[WorkOrderTemplateQuery, Query()]) -> dict:
    return await requests_service.read(runtime, request, TEMPLATES, actor=user)


@router.post(TEMPLATES, response_model=WorkOrderTemplatePublic, status_code=201,
             summary="Add a work-order template: the fields it pre-fills and the tasks it adds")
async def create_work_order_template(body: WorkOrderTemplateCreate, runtime: RuntimeDep, user: AdminUser,
                                     response: Response) -> dict:
    return await requests_service.send(runtime, response, "POST", TEMPLATES, body, actor=user)


@router.get(TEMPLATES + "/{template_id}", response_model=WorkOrderTemplatePublic,
            summary="A work-order template (its version is the ETag)")
async def get_work_order_template(template_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                                  response: Response) -> dict:
    return await requests_service.read(runtime, request, f"{TEMPLATES}/{template_id}", response, actor=user)


@router.patch(TEMPLATES + "/{template_id}", response_model=WorkOrderTemplatePublic,
              summary="Change a work-order template (fields and tasks are replaced whole; active: false stops its use)")
async def update_work_order_template(template_id: Ident, body: WorkOrderTemplateUpdate, runtime: RuntimeDep,
                                     user: AdminUser, response: Response, if_match: IfMatchHeader = None) -> dict:
    return await requests_service.send(runtime, response, "PATCH", f"{TEMPLATES}/{template_id}", body, actor=user,
                                       if_match=if_match)


@router.delete(TEMPLATES + "/{template_id}", status_code=204,
               summary="Remove a work-order template (the tasks it made stay)")
async def delete_work_order_template(template_id: Ident, runtime: RuntimeDep, user: AdminUser,
                                     if_match: IfMatchHeader = None) -> Response:
    headers = {"if-match": if_match} if if_match else {}
    await call(runtime, "requests", "DELETE", f"{TEMPLATES}/{template_id}", actor=user, headers=headers)
    return Response(status_code=204)


# -- preview and apply, per record type ------------------------------------------------------------------------

async def _readable(runtime: Runtime, user: User, record_type: str, record_id: str) -> dict[str, Any]:
    """The record as the caller may see it (its service's 404 raised if they may not, or it does not exist)."""
    if record_type == "incident":
        response = await readable_incident(runtime, user, record_id)
    else:
        service = "changes" if record_type == "change" else "requests"
        response = await call(runtime, service, "GET", f"/{record_type}s/{record_id}", actor=user)
    return response.json()


def _call(body: WorkOrderRequest, record: dict[str, Any]) -> WorkOrderCall:
    # The record's plain members only: what a template sets and the dispatch rules look at are among them.
    plain = {name: value for name, value in record.items() if value is None or isinstance(value, str | int | bool)}
    return WorkOrderCall(template=body.template, record=plain)


async def _preview(runtime: Runtime, user: User, response: Response, record_type: str, record_id: str,
                   body: WorkOrderRequest) -> dict:
    record = await _readable(runtime, user, record_type, record_id)
    return await requests_service.send(runtime, response, "POST", f"/{record_type}s/{record_id}/work-orders/preview",
                                       _call(body, record), actor=user)


async def _apply(runtime: Runtime, user: User, response: Response, record_type: str, record_id: str,
                 body: WorkOrderRequest, if_match: str | None) -> dict:
    record = await _readable(runtime, user, record_type, record_id)
    # Applied only over the version the agent saw, when they say which (the fields are set by the record's service
    # moments later; this keeps a template from being applied over a change they have not seen).
    check_version(record_type, record_id, record.get("version"), if_match_version(if_match, "the record's"))
    return await requests_service.send(runtime, response, "POST", f"/{record_type}s/{record_id}/work-orders",
                                       _call(body, record), actor=user)


@router.post("/incidents/{incident_id}/work-orders/preview", response_model=WorkOrderPreview,
             summary="Preview a work-order template on an incident", description=PREVIEW)
async def preview_incident_work_order(incident_id: Ident, body: WorkOrderRequest, runtime: RuntimeDep,
                                      user: AgentUser, response: Response) -> dict:
    return await _preview(runtime, user, response, "incident", incident_id, body)


@router.post("/incidents/{incident_id}/work-orders", response_model=WorkOrderApplication, status_code=202,
             summary="Apply a work-order template to an incident: its tasks now, its fields within moments",
             description=APPLY)
async def apply_incident_work_order(incident_id: Ident, body: WorkOrderRequest, runtime: RuntimeDep,
                                    user: AgentUser, response: Response, if_match: IfMatchHeader = None) -> dict:
    return await _apply(runtime, user, response, "incident", incident_id, body, if_match)


@router.post("/changes/{change_id}/work-orders/preview", response_model=WorkOrderPreview,
             summary="Preview a work-order template on a change", description=PREVIEW)
async def preview_change_work_order(change_id: Ident, body: WorkOrderRequest, runtime: RuntimeDep, user: AgentUser,
                                    response: Response) -> dict:
    return await _preview(runtime, user, response, "change", change_id, body)


@router.post("/changes/{change_id}/work-orders", response_model=WorkOrderApplication, status_code=202,
             summary="Apply a work-order template to a change: its tasks now, its fields within moments",
             description=APPLY)
async def apply_change_work_order(change_id: Ident, body: WorkOrderRequest, runtime: RuntimeDep, user: AgentUser,
                                  response: Response, if_match: IfMatchHeader = None) -> dict:
    return await _apply(runtime, user, response, "change", change_id, body, if_match)


@router.post("/requests/{request_id}/work-orders/preview", response_model=WorkOrderPreview,
             summary="Preview a work-order template on a request (tasks only)", description=PREVIEW)
async def preview_request_work_order(request_id: Ident, body: WorkOrderRequest, runtime: RuntimeDep,
                                     user: AgentUser, response: Response) -> dict:
    return await _preview(runtime, user, response, "request", request_id, body)


@router.post("/requests/{request_id}/work-orders", response_model=WorkOrderApplication, status_code=202,
             summary="Apply a work-order template to a request: its tasks", description=APPLY)
async def apply_request_work_order(request_id: Ident, body: WorkOrderRequest, runtime: RuntimeDep, user: AgentUser,
                                   response: Response, if_match: IfMatchHeader = None) -> dict:
    return await _apply(runtime, user, response, "request", request_id, body, if_match)
