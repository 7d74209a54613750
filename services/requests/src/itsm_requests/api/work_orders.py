"""Work-order templates (issue 17): admins manage them, agents preview and apply them (roles checked at the gateway,
which reads the record as the caller and sends it along: a record the caller may not see never gets here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from itsm_contracts.api.work_orders import (
    AppliedTask, FieldChange, TaskPreview, WorkOrderApplication, WorkOrderCall, WorkOrderPreview,
    WorkOrderTemplateCreate, WorkOrderTemplateList, WorkOrderTemplatePublic, WorkOrderTemplateQuery,
    WorkOrderTemplateUpdate,
)
from itsm_kit.api import Actor, Ident, IfMatch, answer
from itsm_kit.runtime import UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_requests.handlers import work_orders

router = APIRouter(tags=["work-orders"])
templates = "/work-order-templates"
# The record types a template is applied to, as their collections are named in paths.
Records = Annotated[str, Path(pattern="^(incidents|changes|requests)$", description="incidents, changes or requests")]
APPLIED = ("The template's tasks exist when this answers; the record's fields follow within moments: its own service "
           "sets them on itsm.work_order.applied and writes a timeline line naming the template.")


@router.get(templates, response_model=WorkOrderTemplateList, summary="Work-order templates, by name")
async def list_work_order_templates(uow: UnitOfWorkDep,
                                    query: Annotated[WorkOrderTemplateQuery, Query()]) -> WorkOrderTemplateList:
    items = await work_orders.list_templates(uow, **query.model_dump())
    return WorkOrderTemplateList(items=[WorkOrderTemplatePublic.model_validate(t, from_attributes=True)
                                        for t in items])


@router.post(templates, response_model=WorkOrderTemplatePublic, status_code=201, summary="Add a work-order template")
async def create_work_order_template(body: WorkOrderTemplateCreate, uow: UnitOfWorkDep, response: Response,
                                     actor: Actor) -> WorkOrderTemplatePublic:
    # Run again when another admin took the name meanwhile: the second run says so (409).
    template = await retrying(lambda: work_orders.create_template(uow, actor=actor, **body.model_dump()))
    response.headers["Location"] = f"{templates}/{template.id}"
    return answer(response, WorkOrderTemplatePublic, template)


@router.get(templates + "/{template_id}", response_model=WorkOrderTemplatePublic, summary="A work-order template")
async def get_work_order_template(template_id: Ident, uow: UnitOfWorkDep,
                                  response: Response) -> WorkOrderTemplatePublic:
    return answer(response, WorkOrderTemplatePublic, await work_orders.get_template(uow, template_id))


@router.patch(templates + "/{template_id}", response_model=WorkOrderTemplatePublic,
              summary="Change a template (fields and tasks are replaced whole; active: false stops its use)")
async def update_work_order_template(template_id: Ident, body: WorkOrderTemplateUpdate, uow: UnitOfWorkDep,
                                     response: Response, if_match: IfMatch, actor: Actor) -> WorkOrderTemplatePublic:
    template = await retrying(lambda: work_orders.update_template(uow, template_id, body.changes(), actor=actor,
                                                                  if_match=if_match))
    return answer(response, WorkOrderTemplatePublic, template)


@router.delete(templates + "/{template_id}", status_code=204,
               summary="Remove a work-order template (the tasks it made stay)")
async def delete_work_order_template(template_id: Ident, uow: UnitOfWorkDep, if_match: IfMatch) -> Response:
    await work_orders.delete_template(uow, template_id, if_match=if_match)
    return Response(status_code=204)


@router.post("/{records}/{record_id}/work-orders/preview", response_model=WorkOrderPreview,
             summary="What applying a template to the record would do (writes nothing)")
async def preview_work_order(records: Records, record_id: Ident, body: WorkOrderCall,
                             uow: UnitOfWorkDep) -> WorkOrderPreview:
    record_type = records.removesuffix("s")
    template, preview = await work_orders.preview_work_order(uow, record_type, body.template, body.record)
    version = body.record.get("version")
    return WorkOrderPreview(
        template=template.name, template_id=template.id, record_type=record_type, record_id=record_id,
        record_version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        fields=[FieldChange(field=c.field, from_=c.before, to=c.after, changed=c.changed) for c in preview.fields],
        tasks=[TaskPreview.model_validate(t, from_attributes=True) for t in preview.tasks])


@router.post("/{records}/{record_id}/work-orders", response_model=WorkOrderApplication, status_code=202,
             summary="Apply a template to the record: its tasks now, its fields within moments", description=APPLIED)
async def apply_work_order(records: Records, record_id: Ident, body: WorkOrderCall, uow: UnitOfWorkDep,
                           actor: Actor) -> WorkOrderApplication:
    record_type = records.removesuffix("s")
    # Run again when it clashed with another writer (two work orders locking dispatch groups in other orders).
    template, tasks, at = await retrying(lambda: work_orders.apply_work_order(uow, record_type, record_id,
                                                                              body.template, body.record, actor=actor))
    return WorkOrderApplication(
        template=template.name, template_id=template.id, record_type=record_type, record_id=record_id,
        fields=template.fields, applied_at=at,
        tasks=[AppliedTask(id=t.id, number=t.number, name=t.name, assignment_group=t.assignment_group,
                           assignee=t.assignee, state=t.state.value) for t in tasks])
