"""Requests with their items, approvals and tasks (one aggregate, four tables); standalone tasks; and who approves
(the directory's copy: a person's manager, a group's members)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from sqlalchemy import Select, String, Table, and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.dialects.postgresql import insert as pg_insert

from itsm_kit.pagination import newest_first, page_of
from itsm_kit.records import AggregateRepository, Numbering
from itsm_requests.domain.requests import Approval, ApprovalState, ItemState, Request, RequestedItem, RequestState
from itsm_requests.domain.tasks import Task, TaskState
from itsm_requests.store.tables import (
    approvals, group_members, item_number, people, request_items, request_number, requests, task_number, tasks,
)
from itsm_requests.store.timeline import REQUEST_TIMELINE


class _Parts:
    """For the parts of a request (its items, approvals, tasks): rows written with the request (inserted or updated,
    by id) and read for many requests at once."""

    table: ClassVar[Table]
    fields: list[str]

    async def upsert(self, parts: Sequence[Any]) -> None:
        if not parts:
            return
        insert = pg_insert(self.table)
        columns = [name for name in self.fields if name != "id"]
        await self.session.execute(insert.on_conflict_do_update(
            index_elements=["id"], set_={name: insert.excluded[name] for name in columns}),
            [self.row(part) for part in parts])

    async def of_requests(self, request_ids: Sequence[str], *order: Any) -> list[Any]:
        query = select(self.table).where(self.table.c.request_id.in_(request_ids)).order_by(*order)
        return [self.load(row) for row in (await self.session.execute(query)).all()]


class ItemRows(_Parts, AggregateRepository[RequestedItem]):
    table, aggregate, noun = request_items, RequestedItem, "requested item"
    numbering = Numbering(item_number, "RITM")
    choices = {"state": ItemState}


class ApprovalRows(_Parts, AggregateRepository[Approval]):
    table, aggregate, noun = approvals, Approval, "approval"
    choices = {"state": ApprovalState}


class TaskRepository(_Parts, AggregateRepository[Task]):
    """Every task; a standalone one (a work-order template's) is an aggregate of its own through this repository."""

    table, aggregate, noun = tasks, Task, "task"
    numbering = Numbering(task_number, "TASK")
    choices = {"state": TaskState}

    async def page(self, *, limit: int, cursor: str | None = None, record_type: str | None = None,
                   record_id: str | None = None, assignment_group: str | None = None, assignee: str | None = None,
                   state: Sequence[str] = ()) -> tuple[list[Task], str | None]:
        """Newest opened first, those every filter given holds for."""
        c = tasks.c
        query: Select = select(tasks)
        for column, value in ((c.record_type, record_type), (c.record_id, record_id),
                              (c.assignment_group, assignment_group), (c.assignee, assignee)):
            if value is not None:
                query = query.where(column == value)
        if state:
            query = query.where(c.state.in_(list(state)))
        query = newest_first(query, c.opened_at, c.id, limit=limit, cursor=cursor)
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda task: (task.opened_at, task.id))


# The request's own row: its columns, not the parts (items, approvals, tasks) kept in tables of their own.
REQUEST_COLUMNS = [column.name for column in requests.c]


class RequestRepository(AggregateRepository[Request]):
    table, aggregate, noun = requests, Request, "request"
    numbering = Numbering(request_number, "REQ")
    choices = {"state": RequestState}

    def __init__(self, session: Any):
        super().__init__(session)
        self.items, self.approvals, self.tasks = ItemRows(session), ApprovalRows(session), TaskRepository(session)

    async def find(self, *, for_update: bool = False, **values: Any) -> Request | None:
        """The request with its parts (locking the request's row locks them all: every write to them goes through
        it)."""
        request = await super().find(for_update=for_update, **values)
        if request is not None:
            await self._with_parts([request])
        return request

    async def of_approval(self, approval_id: str) -> str | None:
        return await self.session.scalar(select(approvals.c.request_id).where(approvals.c.id == approval_id))

    async def add(self, *new: Request) -> None:
        await super().add(*new)
        await self._write_parts(new)

    async def save(self, aggregate: Request, loaded_version: int) -> None:
        await super().save(aggregate, loaded_version)
        await self._write_parts([aggregate])

    async def page(self, *, limit: int, cursor: str | None = None, state: Sequence[str] = (),
                   requested_by: str | None = None, requested_for: str | None = None,
                   involving: str | None = None) -> tuple[list[Request], str | None]:
        """Newest first, those every filter given holds for (`involving`: ordered by or for that person)."""
        c = requests.c
        query: Select = select(requests)
        if state:
            query = query.where(c.state.in_(list(state)))
        for column, value in ((c.requested_by, requested_by), (c.requested_for, requested_for)):
            if value is not None:
                query = query.where(column == value)
        if involving is not None:
            query = query.where(or_(c.requested_by == involving, c.requested_for == involving))
        query = newest_first(query, c.opened_at, c.id, limit=limit, cursor=cursor)
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        found, next_cursor = page_of(found, limit, lambda request: (request.opened_at, request.id))
        await self._with_parts(found)
        return found, next_cursor

    async def activity(self, request_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        return await REQUEST_TIMELINE.page(self.session, request_id, limit=limit, cursor=cursor)

    async def waiting_approvals(self, approver: str, *, include_unassigned: bool, limit: int,
                                cursor: str | None) -> tuple[list[dict], str | None]:
        """The approvals waiting for this person's decision (and, for an admin, those with nobody to ask), oldest
        first, each with what it is about."""
        a, i, r = approvals.c, request_items.c, requests.c
        undecided = ~a.decisions.contains([{"by": approver}])
        # @> (which the GIN index serves), spelled out: the table's ARRAY is the generic type.
        mine = and_(a.approvers.op("@>")(array([approver], type_=String(255))), undecided)
        query = (select(approvals, r.number.label("request_number"), r.short_description, r.requested_by,
                        r.requested_for, i.number.label("item_number"), i.name.label("item_name"))
                 .join(requests, r.id == a.request_id).join(request_items, i.id == a.item_id)
                 .where(a.state == ApprovalState.REQUESTED.value,
                        or_(mine, func.cardinality(a.approvers) == 0) if include_unassigned else mine))
        query = newest_first(query, a.requested_at, a.id, limit=limit, cursor=cursor)
        found = [dict(row._mapping) for row in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda row: (row["requested_at"], row["id"]))

    async def _with_parts(self, found: Sequence[Request]) -> None:
        if not found:
            return
        ids = [request.id for request in found]
        by_id = {request.id: request for request in found}
        for request in found:
            request.items, request.approvals, request.tasks = [], [], []
        for item in await self.items.of_requests(ids, request_items.c.position):
            by_id[item.request_id].items.append(item)
        for approval in await self.approvals.of_requests(ids, approvals.c.requested_at, approvals.c.id):
            by_id[approval.request_id].approvals.append(approval)
        for task in await self.tasks.of_requests(ids, tasks.c.number):
            by_id[task.request_id].tasks.append(task)

    async def _write_parts(self, written: Iterable[Request]) -> None:
        written = list(written)
        await self.items.upsert([item for request in written for item in request.items])
        await self.approvals.upsert([approval for request in written for approval in request.approvals])
        await self.tasks.upsert([task for request in written for task in request.tasks])


# Only the request's own columns are the row (AggregateRepository maps an aggregate's fields to its table's columns).
RequestRepository.fields = REQUEST_COLUMNS


# -- who approves: the directory's copy (itsm.directory, kept by the dispatch part's consumer) ------------------------

async def manager_of(session: Any, username: str) -> str | None:
    """The person's manager, unless the directory says that manager is no longer active."""
    manager = await session.scalar(select(people.c.manager).where(people.c.username == username))
    if not manager:
        return None
    inactive = await session.scalar(select(exists().where(people.c.username == manager, ~people.c.active)))
    return None if inactive else manager


async def members_of(session: Any, group: str) -> list[str]:
    """The group's members, but those the directory says are no longer active."""
    query = (select(group_members.c.username).where(group_members.c.group_name == group)
             .where(~exists().where(people.c.username == group_members.c.username, ~people.c.active))
             .order_by(group_members.c.username))
    return list((await session.scalars(query)).all())
