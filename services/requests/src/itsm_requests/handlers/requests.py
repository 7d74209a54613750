"""Use cases of requests: submit one (each item checked against the catalogue: orderable by the caller, answers valid
for its current form), read them and their timelines, cancel one, and the approvals: the inbox and the decisions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.errors import Problem, found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_requests.domain.flows import flow_as_json
from itsm_requests.domain.forms import answer_errors
from itsm_requests.domain.requests import ItemState, NotAnApprover, Request, RequestedItem
from itsm_requests.handlers.tasks import begin_stages, change_request
from itsm_requests.store.catalogue import orderable
from itsm_requests.store.requests import ItemRows, RequestRepository

MAX_SHORT_DESCRIPTION = 300


def _short_description(names: Sequence[str]) -> str:
    """What a request is called when its requester names nothing: its items'."""
    text = ", ".join(dict.fromkeys(names))
    return text if len(text) <= MAX_SHORT_DESCRIPTION else text[:MAX_SHORT_DESCRIPTION - 1] + "…"


async def submit_request(uow: UnitOfWork, *, actor: str, groups: frozenset[str], items: Sequence[Mapping[str, Any]],
                         short_description: str | None = None, requested_for: str | None = None,
                         max_items: int = 20, max_answers_bytes: int = 65_536) -> Request:
    """A request for these items ({catalog_item_id, quantity, answers}); one 422 naming every item that may not be
    ordered and every bad answer of every item (nothing written); else submitted, with each item's first stage
    begun."""
    if not 1 <= len(items) <= max_items:
        raise Problem(422, "Unprocessable Content", f"a request orders 1 to {max_items} items, not {len(items)}")
    async with uow:
        offered = await orderable(uow.session, [i["catalog_item_id"] for i in items])
        errors: list[dict[str, Any]] = []
        for index, wanted in enumerate(items):
            ident = wanted["catalog_item_id"]
            item = offered.get(ident)
            if item is None or not item.active or not item.may_be_ordered_by(groups):
                # Not there, retired, or not for the caller's groups: the same answer, as the catalogue hides them.
                errors.append({"item": index, "catalog_item_id": ident, "field": None,
                               "message": f"catalogue item {ident} does not exist or may not be ordered by you"})
                continue
            errors.extend({"item": index, "catalog_item_id": ident, "field": error.field, "message": error.message}
                          for error in answer_errors(item.form, wanted.get("answers") or {},
                                                     max_bytes=max_answers_bytes))
        if errors:
            detail = "; ".join(f"item {e['item']}" + (f" {e['field']}" if e["field"] else "") + f": {e['message']}"
                               for e in errors[:5])
            raise Problem(422, "Unprocessable Content", detail, errors=errors)

        at, request_id = utcnow(), str(uuid.uuid4())
        requests = RequestRepository(uow.session)
        numbers = await ItemRows(uow.session).next_numbers(len(items))
        ordered = []
        for index, (wanted, number) in enumerate(zip(items, numbers, strict=True)):
            item = offered[wanted["catalog_item_id"]]
            ordered.append(RequestedItem(
                id=str(uuid.uuid4()), request_id=request_id, number=number, position=index, catalog_item_id=item.id,
                form_version=item.form_version, name=item.name, category=item.category,
                quantity=wanted.get("quantity", 1), answers=dict(wanted.get("answers") or {}),
                state=ItemState.IN_FULFILMENT, stage=0, flow=flow_as_json(item.flow), price=item.price,
                currency=item.currency, response_target_minutes=item.response_target_minutes,
                fulfilment_target_minutes=item.fulfilment_target_minutes))
        request = Request.submit(
            id=request_id, number=await requests.next_number(), requested_by=actor,
            requested_for=requested_for or actor, items=ordered, at=at,
            short_description=short_description or _short_description([item.name for item in ordered]))
        await begin_stages(uow.session, request, at=at, actor=actor)
        await requests.add(request)
        uow.add(request)
        await uow.commit()
    return request


async def get_request(uow: UnitOfWork, request_id: str) -> Request:
    async with uow:
        return found(await RequestRepository(uow.session).get(request_id), "request", request_id)


async def list_requests(uow: UnitOfWork, *, limit: int, cursor: str | None = None,
                        **where: Any) -> tuple[list[Request], str | None]:
    """Newest first, filtered by `where` (RequestRepository.page's filters)."""
    async with uow:
        return await RequestRepository(uow.session).page(limit=limit, cursor=cursor, **where)


async def request_activity(uow: UnitOfWork, request_id: str, *, limit: int,
                           cursor: str | None) -> tuple[list[dict], str | None]:
    """The request's timeline, newest first; a 404 for a request that does not exist."""
    async with uow:
        repo = RequestRepository(uow.session)
        found(await repo.get(request_id), "request", request_id)
        return await repo.activity(request_id, limit=limit, cursor=cursor)


async def cancel_request(uow: UnitOfWork, request_id: str, *, actor: str, reason: str = "",
                         if_match: int | None = None) -> Request:
    """Its unfinished items canceled, with their open approvals and tasks."""
    at = utcnow()
    return await change_request(uow, request_id, if_match, lambda request: request.cancel(
        at=at, actor=actor, reason=reason), actor=actor)


# -- approvals ------------------------------------------------------------------------------------------------------


async def waiting_approvals(uow: UnitOfWork, *, approver: str, include_unassigned: bool = False, limit: int,
                            cursor: str | None = None) -> tuple[list[dict], str | None]:
    """The approvals waiting for this person (with nobody to ask too, for an admin)."""
    async with uow:
        return await RequestRepository(uow.session).waiting_approvals(
            approver, include_unassigned=include_unassigned, limit=limit, cursor=cursor)


async def decide_approval(uow: UnitOfWork, approval_id: str, *, actor: str, approve: bool, comment: str = "",
                          admin: bool = False) -> tuple[Request, str]:
    """One of its approvers (or an admin) approves or rejects; the item moves on (its next stage begun) or is
    rejected. A 404 for no such approval, a 403 for someone not asked."""
    async with uow:
        request_id = found(await RequestRepository(uow.session).of_approval(approval_id), "approval", approval_id)
    at = utcnow()

    def command(request: Request) -> None:
        try:
            request.decide(approval_id, by=actor, approve=approve, comment=comment, at=at, admin=admin)
        except NotAnApprover as exc:
            raise Problem(403, "Forbidden", str(exc)) from None

    return await change_request(uow, request_id, None, command, actor=actor), approval_id
