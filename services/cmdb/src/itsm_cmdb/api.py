"""The cmdb HTTP API (internal; clients reach it through the gateway).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject,
the caller's JWT subject.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from itsm_contracts.api.values import Instant
from itsm_contracts.api.cmdb import (
    AttributeSchema, CiBrief, CiCreate, CiPage, CiPublic, CiQuery, CiRelationship, CiRelationshipList, CiUpdate,
    ClassSchema, CmdbModel, FieldChange, HistoryEntry, HistoryPage, ImpactAnalysis, ImportReport, ImportRequest,
    RelationshipCreate, RelationshipPublic, RelationshipTypeSchema, SourceList, SourcePublic, SourceUpdate,
    StatusChange,
)
from itsm_kit.api import Actor, Ident, IfMatch, tag
from itsm_kit.errors import Problem
from itsm_kit.openapi import json_body
from itsm_kit.runtime import UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_cmdb import handlers
from itsm_cmdb.domain import (
    DEFAULT_PRIORITY, SCHEMAS, TYPES, CiClass, ConfigurationItem, Environment, OperationalStatus, Relationship,
)

router = APIRouter(tags=["cmdb"])

BRIEF = tuple(CiBrief.model_fields)
SourceName = Annotated[str, Path(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]
MAX_IMPACT_DEPTH = 50


def public(ci: ConfigurationItem, as_of=None, last_seen: dict | None = None) -> CiPublic:
    return CiPublic.model_validate(ci, from_attributes=True).model_copy(
        update={"as_of": as_of, "last_seen": last_seen or {}})


def brief(ci: ConfigurationItem) -> CiBrief:
    return CiBrief.model_validate(ci, from_attributes=True)


def relationship_public(r: Relationship) -> RelationshipPublic:
    rule = TYPES[r.type]
    return RelationshipPublic(id=r.id, source_id=r.source_id, type=r.type, target_id=r.target_id, name=rule.name,
                              reverse_name=rule.reverse_name, created_at=r.created_at, created_by=r.created_by,
                              removed_at=r.removed_at, removed_by=r.removed_by)


def _answer(ci: ConfigurationItem, response: Response, last_seen: dict | None = None) -> CiPublic:
    tag(response, ci.version)
    return public(ci, last_seen=last_seen)


@router.get("/model", response_model=CmdbModel, summary="CI classes with their attributes, and relationship types")
async def model() -> CmdbModel:
    return CmdbModel(
        classes=[ClassSchema(ci_class=s.ci_class, label=s.label, identified_by=[list(r) for r in s.identified_by],
                             attributes=[AttributeSchema(name=a.name, type=a.type, required=a.required,
                                                         choices=list(a.choices), description=a.description,
                                                         minimum=a.minimum)
                                         for a in s.attributes]) for s in SCHEMAS.values()],
        relationship_types=[RelationshipTypeSchema(type=t, name=r.name, reverse_name=r.reverse_name,
                                                   target_classes=sorted(r.target_classes) if r.target_classes
                                                   else None) for t, r in TYPES.items()],
        operational_statuses=list(OperationalStatus), environments=list(Environment),
    )


@router.get("/cis", response_model=CiPage, summary="List configuration items, newest first")
async def list_cis(uow: UnitOfWorkDep, query: Annotated[CiQuery, Query()]) -> CiPage:
    items, seen, next_cursor = await handlers.list_cis(uow, query)
    return CiPage(items=[public(ci, last_seen=seen.get(ci.id)) for ci in items], next_cursor=next_cursor)


@router.get("/cis/{ci_id}", response_model=CiPublic, summary="A configuration item, now or as it was at a time")
async def get_ci(ci_id: Ident, uow: UnitOfWorkDep, response: Response,
                 as_of: Annotated[Instant | None, Query(description="the CI as it was then")] = None,
                 ) -> CiPublic:
    if as_of is not None:
        return public(await handlers.ci_as_of(uow, ci_id, as_of), as_of=as_of)
    ci, last_seen = await handlers.get_ci(uow, ci_id)
    return _answer(ci, response, last_seen=last_seen)


@router.post("/cis", response_model=CiPublic, status_code=201, summary="Register a configuration item")
async def register_ci(body: CiCreate, uow: UnitOfWorkDep, response: Response, actor: Actor) -> CiPublic:
    ci = await retrying(lambda: handlers.register_ci(uow, actor=actor, **body.model_dump()))
    response.headers["Location"] = f"/cis/{ci.id}"
    return _answer(ci, response)


@router.patch("/cis/{ci_id}", response_model=CiPublic, summary="Change fields of a configuration item")
async def update_ci(ci_id: Ident, body: CiUpdate, uow: UnitOfWorkDep, response: Response, if_match: IfMatch,
                    actor: Actor) -> CiPublic:
    ci = await retrying(lambda: handlers.update_ci(uow, ci_id, body.changes(), actor=actor, if_match=if_match))
    return _answer(ci, response)


@router.post("/cis/{ci_id}/status", response_model=CiPublic,
             summary="Change the operational status; retired is for good and removes the CI's relationships")
async def change_status(ci_id: Ident, body: StatusChange, uow: UnitOfWorkDep, response: Response, if_match: IfMatch,
                        actor: Actor) -> CiPublic:
    ci = await retrying(lambda: handlers.set_status(uow, ci_id, body.status, actor=actor, if_match=if_match))
    return _answer(ci, response)


@router.get("/cis/{ci_id}/relationships", response_model=CiRelationshipList,
            summary="The CI's relationships both ways, now or at a time")
async def ci_relationships(ci_id: Ident, uow: UnitOfWorkDep,
                           as_of: Annotated[Instant | None, Query()] = None) -> CiRelationshipList:
    items = []
    for r, other in await handlers.relationships_of(uow, ci_id, as_of):
        outgoing = r.source_id == ci_id
        rule = TYPES[r.type]
        items.append(CiRelationship(id=r.id, type=r.type, direction="outgoing" if outgoing else "incoming",
                                    label=rule.name if outgoing else rule.reverse_name, other=brief(other),
                                    created_at=r.created_at, created_by=r.created_by))
    return CiRelationshipList(items=items, as_of=as_of)


@router.get("/cis/{ci_id}/history", response_model=HistoryPage,
            summary="Every change of the CI's fields and relationships, newest first, with source and time")
async def ci_history(ci_id: Ident, uow: UnitOfWorkDep, cursor: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> HistoryPage:
    rows, next_cursor = await handlers.history(uow, ci_id, limit=limit, cursor=cursor)
    items = [HistoryEntry(
        at=r["at"], kind=r["kind"], source=r["source"], actor=r["actor"], version=r["version"],
        changes={k: FieldChange(old=old, new=new) for k, (old, new) in (r["changes"] or {}).items()},
        relationship=relationship_public(r["relationship"]) if r["relationship"] else None,
    ) for r in rows]
    return HistoryPage(items=items, next_cursor=next_cursor)


@router.get("/cis/{ci_id}/impact", response_model=ImpactAnalysis,
            summary="What depends on the CI (upstream) or what it depends on (downstream), with depth and path")
async def impact(ci_id: Ident, uow: UnitOfWorkDep, direction: Literal["upstream", "downstream"] = "upstream",
                 max_depth: Annotated[int, Query(ge=1, le=MAX_IMPACT_DEPTH)] = 10) -> Response:
    ci, rows = await handlers.impact(uow, ci_id, upstream=direction == "upstream", max_depth=max_depth)
    paths = {ci_id: [ci_id]}
    items = []
    for row in rows:  # nearest first: a CI's parent has its path already
        parent = row.pop("parent")
        row["path"] = paths[row["id"]] = [*paths[parent], row["id"]]
        items.append(row)
    briefs = {k: [{f: i[f] for f in BRIEF} for i in items if i["ci_class"] == k]
              for k in (CiClass.BUSINESS_SERVICE, CiClass.APPLICATION)}
    # Thousands of CIs: written straight to JSON, in the shape ImpactAnalysis documents.
    return Response(orjson.dumps({
        "ci": brief(ci).model_dump(mode="json"), "direction": direction, "max_depth": max_depth, "items": items,
        "business_services": briefs[CiClass.BUSINESS_SERVICE], "applications": briefs[CiClass.APPLICATION],
    }), media_type="application/json")


@router.post("/relationships", response_model=RelationshipPublic, status_code=201,
             summary="Relate two live CIs (a dangling or retired end is a 422, a duplicate a 409)")
async def add_relationship(body: RelationshipCreate, uow: UnitOfWorkDep, response: Response,
                           actor: Actor) -> RelationshipPublic:
    relationship = await retrying(lambda: handlers.add_relationship(uow, actor=actor, **body.model_dump()))
    response.headers["Location"] = f"/relationships/{relationship.id}"
    return relationship_public(relationship)


@router.get("/relationships/{relationship_id}", response_model=RelationshipPublic)
async def get_relationship(relationship_id: Ident, uow: UnitOfWorkDep) -> RelationshipPublic:
    return relationship_public(await handlers.get_relationship(uow, relationship_id))


@router.delete("/relationships/{relationship_id}", response_model=RelationshipPublic,
               summary="Remove a relationship (it stays in the history)")
async def remove_relationship(relationship_id: Ident, uow: UnitOfWorkDep, actor: Actor) -> RelationshipPublic:
    relationship = await retrying(lambda: handlers.remove_relationship(uow, relationship_id, actor=actor))
    return relationship_public(relationship)


@router.post("/imports", response_model=ImportReport,
             summary="Bulk import from a discovery source: identify, reconcile, report per item",
             openapi_extra=json_body(ImportRequest))
async def import_batch(request: Request, uow: UnitOfWorkDep) -> Response:
    # Thousands of items: parsed from the bytes in one pass, answered as JSON written directly.
    try:
        body = ImportRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    # Imports run side by side; one that clashed with another writer runs again (it is idempotent).
    report = await retrying(lambda: handlers.import_batch(uow, body))
    if not report["committed"]:
        raise Problem(422, "Unprocessable Content", "all_or_nothing: some items or relationships were rejected, "
                      "so nothing was written", **report)
    return Response(orjson.dumps(report), media_type="application/json")


@router.get("/sources", response_model=SourceList, summary="Discovery sources and their reconciliation priority")
async def list_sources(uow: UnitOfWorkDep) -> SourceList:
    return SourceList(items=[SourcePublic(**s) for s in await handlers.list_sources(uow)],
                      default_priority=DEFAULT_PRIORITY)


@router.put("/sources/{name}", response_model=SourcePublic,
            summary="Rank a source: a smaller priority wins; a lower-ranked source never overwrites its fields")
async def put_source(name: SourceName, body: SourceUpdate, uow: UnitOfWorkDep, actor: Actor) -> SourcePublic:
    return SourcePublic(**await handlers.put_source(uow, name, actor=actor, **body.model_dump()))
