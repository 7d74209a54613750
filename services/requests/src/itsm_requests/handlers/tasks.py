"""Fulfilment tasks: the /tasks API for every task, and standalone tasks for other helpers' use cases.

FOR THE WORK-ORDERS HELPER (issue 17): create a template's tasks in YOUR unit of work (already entered; you commit) with

    from itsm_requests.handlers.tasks import open_standalone_tasks
    tasks = await open_standalone_tasks(uow, record_type, record_id, specs, template=name, actor=actor,
                                        category=..., requester=...)  # the last two optional: what rules match

record_type: "incident" | "change" | "request"; specs: a sequence of itsm_requests.domain.flows.TaskSpec (name,
description, assignment_group or None: the dispatch rules choose the group); returns the Task objects (ids in
order). Each task is its own aggregate (events' subject = the task id): it is opened, dispatched with
`handlers.dispatch.decide_all` (Facts(record_type="task", category=..., requester=...), group=spec.assignment_group
for each task, all of them in one read) and assigned (itsm.request.task_assigned) in your transaction; its events
are staged by `uow.add(task)` (done here).

A requested item's task moves inside its request (the Request aggregate: `change_request`, which handlers.requests
uses too, then `begin_stages` for the stages its items reached); a standalone task moves alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.clock import utcnow
from itsm_kit.domain import InvalidValue
from itsm_kit.errors import check_version, found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_requests.domain.dispatch import Decision, Facts
from itsm_requests.domain.flows import ApprovalStage, TaskSpec
from itsm_requests.domain.requests import Request, approvers_for
from itsm_requests.domain.tasks import STANDALONE_RECORD_TYPES, Task, TaskState
from itsm_requests.handlers.dispatch import decide_all, record_decisions
from itsm_requests.store.requests import RequestRepository, TaskRepository, manager_of, members_of

# -- opening tasks: a flow's, or a work-order template's --------------------------------------------------------------


async def _dispatched(session: AsyncSession, tasks: Sequence[Task], specs: Sequence[TaskSpec],
                      facts: Facts) -> list[tuple[Task, Decision]]:
    """Each new task with whom dispatch gives it to: its spec's group (or the rules' choice) and the group's method's
    person, decided in the caller's transaction and kept with the dispatch decisions."""
    # All of them at once: what the decisions read is read once (a template may make many tasks).
    decisions = await decide_all(session, [(replace(facts, task=spec.name), spec.assignment_group) for spec in specs])
    await record_decisions(session, [("task", task.id, decision) for task, decision in zip(tasks, decisions,
                                                                                            strict=True)])
    return list(zip(tasks, decisions, strict=True))


async def _new_tasks(session: AsyncSession, specs: Sequence[TaskSpec], *, record_type: str, record_id: str,
                     at: datetime, request_id: str | None = None, stage: int | None = None,
                     template: str | None = None) -> list[Task]:
    numbers = await TaskRepository(session).next_numbers(len(specs))
    return [Task.opened(id=str(uuid.uuid4()), number=number, record_type=record_type, record_id=record_id,
                        request_id=request_id, stage=stage, name=spec.name, description=spec.description,
                        template=template, at=at)
            for spec, number in zip(specs, numbers, strict=True)]


async def open_standalone_tasks(uow: UnitOfWork, record_type: str, record_id: str, specs: Sequence[TaskSpec], *,
                                template: str | None = None, actor: str, category: str | None = None,
                                requester: str | None = None) -> list[Task]:
    """A work-order template's tasks for an incident, a change or a request, in the caller's (entered) unit of work:
    each its own aggregate, dispatched and assigned; the caller commits. `category`/`requester` are what the
    dispatch rules may match on, when the caller knows them."""
    if record_type not in STANDALONE_RECORD_TYPES:
        raise InvalidValue(f"standalone tasks are for an incident, a change or a request, not {record_type!r}")
    at = utcnow()
    tasks = await _new_tasks(uow.session, specs, record_type=record_type, record_id=record_id, at=at,
                             template=template)
    facts = Facts(record_type="task", category=category, requester=requester)
    for task, decision in await _dispatched(uow.session, tasks, specs, facts):
        if decision.assignment_group is not None or decision.assignee is not None:
            task.own(task.assign(decision.assignment_group, decision.assignee, at, actor, rule=decision.rule,
                                 rule_version=decision.rule_version, method=decision.method))
    await TaskRepository(uow.session).add(*tasks)
    uow.add(*tasks)
    return tasks


# -- a request's stages ---------------------------------------------------------------------------------------------


async def begin_stages(session: AsyncSession, request: Request, *, at: datetime, actor: str) -> None:
    """Begin every stage the request's items wait at: approvers fixed now (from the directory's copy), tasks opened
    and dispatched now, all in the caller's transaction."""
    for item, stage in request.stages_to_begin():
        if isinstance(stage, ApprovalStage):
            manager = await manager_of(session, request.requested_for) if stage.approver == "manager" else None
            members = await members_of(session, stage.group) if stage.approver == "group" and stage.group else []
            request.begin_approval(item.id, approval_id=str(uuid.uuid4()), at=at, actor=actor, approvers=approvers_for(
                stage, manager=manager, members=members, requested_by=request.requested_by,
                requested_for=request.requested_for))
        else:
            tasks = await _new_tasks(session, stage.tasks, record_type="request_item", record_id=item.id, at=at,
                                     request_id=request.id, stage=item.stage)
            facts = Facts(record_type="task", category=item.category, requester=request.requested_for)
            request.begin_tasks(item.id, await _dispatched(session, tasks, stage.tasks, facts), at=at, actor=actor)


async def change_request(uow: UnitOfWork, request_id: str, if_match: int | None, command: Any, *,
                         actor: str) -> Request:
    """A command on a request (locked; If-Match checked against its version when given), then the stages it reached
    begun, and it saved with its events and timeline lines."""
    async with uow:
        repo = RequestRepository(uow.session)
        request = found(await repo.get(request_id, for_update=True), "request", request_id)
        check_version("request", request_id, request.version, if_match)
        loaded = request.version
        command(request)
        await begin_stages(uow.session, request, at=utcnow(), actor=actor)
        await repo.save(request, loaded)
        uow.add(request)
        await uow.commit()
    return request


# -- the /tasks API: every task ---------------------------------------------------------------------------------------


async def list_tasks(uow: UnitOfWork, *, limit: int, cursor: str | None = None,
                     **where: Any) -> tuple[list[Task], str | None]:
    async with uow:
        return await TaskRepository(uow.session).page(limit=limit, cursor=cursor, **where)


async def get_task(uow: UnitOfWork, task_id: str) -> Task:
    async with uow:
        return found(await TaskRepository(uow.session).get(task_id), "task", task_id)


async def assign_task(uow: UnitOfWork, task_id: str, *, group: str | None, assignee: str | None, actor: str,
                      if_match: int | None = None) -> Task:
    """A user gives the task to a group and person (task_assigned with no rule)."""
    at = utcnow()
    return await _on_task(uow, task_id, if_match, actor=actor,
                          in_request=lambda request: request.assign_task(task_id, group=group, assignee=assignee,
                                                                         at=at, actor=actor),
                          alone=lambda task: None if (task.assignment_group, task.assignee) == (group, assignee)
                          else task.own(task.assign(group, assignee, at, actor)))


async def move_task(uow: UnitOfWork, task_id: str, *, state: TaskState, actor: str,
                    if_match: int | None = None) -> Task:
    """A task moved by TASK_TRANSITIONS; a requested item's task moves its item (and request) on."""
    at = utcnow()
    return await _on_task(uow, task_id, if_match, actor=actor,
                          in_request=lambda request: request.move_task(task_id, state, at=at, actor=actor),
                          alone=lambda task: task.own(task.move(state, at, actor)))


async def _on_task(uow: UnitOfWork, task_id: str, if_match: int | None, *, actor: str, in_request: Any,
                   alone: Any) -> Task:
    """A requested item's task changes inside its request (the request's row locked first, as every other writer
    of it does); a standalone task alone. If-Match names the task's version."""
    async with uow:
        task = found(await TaskRepository(uow.session).get(task_id), "task", task_id)
        request_id = task.request_id
    if request_id is None:
        async with uow:
            tasks = TaskRepository(uow.session)
            task = found(await tasks.get(task_id, for_update=True), "task", task_id)
            check_version("task", task_id, task.version, if_match)
            loaded = task.version
            alone(task)
            if task.version != loaded:
                await tasks.save(task, loaded)
                uow.add(task)
                await uow.commit()
        return task

    def command(request: Request) -> None:
        check_version("task", task_id, request.task(task_id).version, if_match)
        in_request(request)

    request = await change_request(uow, request_id, None, command, actor=actor)
    return request.task(task_id)
