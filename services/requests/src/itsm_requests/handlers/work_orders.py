"""Work-order templates (issue 17): admins manage them; agents preview and apply them to incidents, changes and
requests (the gateway has read the record as the caller, and sends it along)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import SYSTEM, Conflict, InvalidValue
from itsm_kit.errors import found
from itsm_kit.records import remove, revise
from itsm_kit.unit_of_work import UnitOfWork
from itsm_requests.domain.dispatch import Facts
from itsm_requests.domain.tasks import Task
from itsm_requests.domain.work_orders import Preview, WorkOrderTemplate
from itsm_requests.handlers import dispatch
from itsm_requests.handlers import tasks as standalone
from itsm_requests.store.work_orders import WorkOrderTemplateRepository


async def list_templates(uow: UnitOfWork, *, record_type: str | None = None,
                         active: bool | None = None) -> list[WorkOrderTemplate]:
    async with uow:
        return await WorkOrderTemplateRepository(uow.session).all(record_type=record_type, active=active)


async def get_template(uow: UnitOfWork, template_id: str) -> WorkOrderTemplate:
    async with uow:
        return found(await WorkOrderTemplateRepository(uow.session).get(template_id), "work-order template",
                     template_id)


async def create_template(uow: UnitOfWork, *, actor: str = SYSTEM, **fields: Any) -> WorkOrderTemplate:
    async with uow:
        repo = WorkOrderTemplateRepository(uow.session)
        template = WorkOrderTemplate.create(id=str(uuid.uuid4()), at=utcnow(), actor=actor, **fields)
        await _unique_name(repo, template)
        await repo.add(template)
        await uow.commit()
    return template


async def update_template(uow: UnitOfWork, template_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                          if_match: int | None = None) -> WorkOrderTemplate:
    return await revise(uow, WorkOrderTemplateRepository, template_id, if_match,
                        lambda template: template.update(changes, utcnow(), actor=actor), before_save=_unique_name)


async def delete_template(uow: UnitOfWork, template_id: str, *, if_match: int | None = None) -> None:
    """The tasks it made stay (they name it as it was called)."""
    await remove(uow, WorkOrderTemplateRepository, template_id, if_match)


async def _unique_name(repo: WorkOrderTemplateRepository, template: WorkOrderTemplate) -> None:
    if await repo.holder(template) is not None:
        raise Conflict(f"there is already a work-order template named {template.name}", name=template.name)


async def _named(repo: WorkOrderTemplateRepository, ref: str) -> WorkOrderTemplate:
    # The record is the resource addressed; a template the body names and that does not exist is bad input (422).
    template = await repo.named(ref)
    if template is None:
        raise InvalidValue(f"there is no work-order template {ref}", template=ref)
    return template


async def preview_work_order(uow: UnitOfWork, record_type: str, ref: str,
                             record: Mapping[str, Any]) -> tuple[WorkOrderTemplate, Preview]:
    """What applying the template would do, with the dispatch rules' choice now for its tasks without a group (their
    dry run); nothing is written."""
    async with uow:
        template = await _named(WorkOrderTemplateRepository(uow.session), ref)
    preview = template.preview(record_type, record)
    if preview.needs_dispatch:
        decision = await dispatch.dry_run(uow, Facts(record_type="task", **template.dispatch_facts(record)))
        preview = preview.dispatched(decision.assignment_group, decision.rule)
    return template, preview


async def apply_work_order(uow: UnitOfWork, record_type: str, record_id: str, ref: str, record: Mapping[str, Any],
                           *, actor: str = SYSTEM) -> tuple[WorkOrderTemplate, list[Task], datetime]:
    """In one transaction: the template's tasks opened (a task without a group dispatched by the rules) and
    itsm.work_order.applied staged, on which the record's service sets the fields."""
    async with uow:
        template = await _named(WorkOrderTemplateRepository(uow.session), ref)
        template.check_applicable(record_type)
        tasks = await standalone.open_standalone_tasks(uow, record_type, record_id, template.task_specs,
                                                       template=template.name, actor=actor,
                                                       **template.dispatch_facts(record))
        at = utcnow()
        uow.add(template.apply(record_type, record_id, [(t.id, t.number) for t in tasks], at, actor))
        await uow.commit()
    return template, tasks, at

