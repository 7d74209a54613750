"""The cmdb HTTP API (internal; clients reach it through the gateway).

Who acts comes in `X-Actor`: the gateway, the only entry, sets it from the caller's JWT
subject, and services inside trust it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, ValidationError

from itsm_contracts.api.cmdb import (
    AttributeSchema, CiBrief, CiCreate, CiPage, CiPublic, CiQuery, CiRelationship, CiRelationshipList, CiUpdate,
    ClassSchema, CmdbModel, FieldChange, HistoryEntry, HistoryPage, ImpactAnalysis, ImportReport, ImportRequest,
    RelationshipCreate, RelationshipPublic, RelationshipTypeSchema, SourceList, SourcePublic, SourceUpdate,
    StatusChange,
)
from itsm_kit.errors import Problem, if_match_version, not_found
from itsm_kit.openapi import json_body
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_cmdb import handlers
from itsm_cmdb.domain import (
    DEFAULT_PRIORITY, SCHEMAS, TYPES, CiClass, ConfigurationItem, Environment, OperationalStatus, Relationship,
)
from itsm_cmdb.store import (
    CiRepository, HistoryRepository, RelationshipRepository, SightingRepository, SourceRepository,
)

router = APIRouter(tags=["cmdb"])

IfMatch = Annotated[str | None, Header(description="the version (ETag) you last read; a stale one is a 412")]
Actor = Annotated[str, Header(alias="x-actor", min_length=1, max_length=255,
                              description="who acts: the gateway sets it from the JWT subject")]
SYSTEM = "system"
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
    response.headers["ETag"] = f'"{ci.version}"'
    return public(ci, last_seen=last_seen)


def _if_match(value: str | None) -> int | None:
    return if_match_version(value, "a configuration item")


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
async def list_cis(session: SessionDep, query: Annotated[CiQuery, Query()]) -> CiPage:
    unseen_since = handlers.utcnow() - query.unseen_for if query.unseen_for else None
    items, next_cursor = await CiRepository(session).page(
        limit=query.limit, cursor=query.cursor, classes=query.ci_class, statuses=query.operational_status,
        environment=query.environment, owner_group=query.owner_group, q=query.q, source=query.source,
        unseen_since=unseen_since)
    seen = await SightingRepository(session).of(ci.id for ci in items)
    return CiPage(items=[public(ci, last_seen=seen.get(ci.id)) for ci in items], next_cursor=next_cursor)


@router.get("/cis/{ci_id}", response_model=CiPublic, summary="A configuration item, now or as it was at a time")
async def get_ci(ci_id: str, session: SessionDep, response: Response,
                 as_of: Annotated[AwareDatetime | None, Query(description="the CI as it was then")] = None,
                 ) -> CiPublic:
    if as_of is not None:
        return public(await handlers.ci_as_of(session, ci_id, as_of), as_of=as_of)
    ci = await CiRepository(session).get(ci_id)
    if ci is None:
        raise not_found("configuration item", ci_id)
    return _answer(ci, response, last_seen=(await SightingRepository(session).of([ci_id])).get(ci_id))


@router.post("/cis", response_model=CiPublic, status_code=201, summary="Register a configuration item")
async def register_ci(body: CiCreate, runtime: RuntimeDep, response: Response, actor: Actor = SYSTEM) -> CiPublic:
    ci = await handlers.retrying(runtime, lambda session: handlers.register_ci(
        session, runtime.outbox, actor=actor, **body.model_dump()))
    response.headers["Location"] = f"/cis/{ci.id}"
    return _answer(ci, response)


@router.patch("/cis/{ci_id}", response_model=CiPublic, summary="Change fields of a configuration item")
async def update_ci(ci_id: str, body: CiUpdate, runtime: RuntimeDep, response: Response, if_match: IfMatch = None,
                    actor: Actor = SYSTEM) -> CiPublic:
    ci = await handlers.retrying(runtime, lambda session: handlers.update_ci(
        session, runtime.outbox, ci_id, body.changes(), actor=actor, if_match=_if_match(if_match)))
    return _answer(ci, response)


@router.post("/cis/{ci_id}/status", response_model=CiPublic,
             summary="Change the operational status; retired is for good and removes the CI's relationships")
async def change_status(ci_id: str, body: StatusChange, runtime: RuntimeDep, response: Response,
                        if_match: IfMatch = None, actor: Actor = SYSTEM) -> CiPublic:
    ci = await handlers.retrying(runtime, lambda session: handlers.set_status(
        session, runtime.outbox, ci_id, body.status, actor=actor, if_match=_if_match(if_match)))
    return _answer(ci, response)


@router.get("/cis/{ci_id}/relationships", response_model=CiRelationshipList,
            summary="The CI's relationships both ways, now or at a time")
async def ci_relationships(ci_id: str, session: SessionDep,
                           as_of: Annotated[AwareDatetime | None, Query()] = None) -> CiRelationshipList:
    cis = CiRepository(session)
    if await cis.get(ci_id) is None:
        raise not_found("configuration item", ci_id)
    found = await RelationshipRepository(session).of(ci_id, as_of)
    others = await cis.get_many(r.target_id if r.source_id == ci_id else r.source_id for r in found)
    items = []
    for r in found:
        outgoing = r.source_id == ci_id
        rule = TYPES[r.type]
        items.append(CiRelationship(id=r.id, type=r.type, direction="outgoing" if outgoing else "incoming",
                                    label=rule.name if outgoing else rule.reverse_name,
                                    other=brief(others[r.target_id if outgoing else r.source_id]),
                                    created_at=r.created_at, created_by=r.created_by))
    return CiRelationshipList(items=items, as_of=as_of)


@router.get("/cis/{ci_id}/history", response_model=HistoryPage,
            summary="Every change of the CI's fields and relationships, newest first, with source and time")
async def ci_history(ci_id: str, session: SessionDep, cursor: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> HistoryPage:
    if await CiRepository(session).get(ci_id) is None:
        raise not_found("configuration item", ci_id)
    rows, next_cursor = await HistoryRepository(session).page(ci_id, limit=limit, cursor=cursor)
    relationships = await RelationshipRepository(session).get_many(r["relationship_id"] for r in rows
                                                                   if r["relationship_id"])
    items = [HistoryEntry(
        at=r["at"], kind=r["kind"], source=r["source"], actor=r["actor"], version=r["version"],
        changes={k: FieldChange(old=old, new=new) for k, (old, new) in (r["changes"] or {}).items()},
        relationship=relationship_public(relationships[r["relationship_id"]]) if r["relationship_id"] else None,
    ) for r in rows]
    return HistoryPage(items=items, next_cursor=next_cursor)


@router.get("/cis/{ci_id}/impact", response_model=ImpactAnalysis,
            summary="What depends on the CI (upstream) or what it depends on (downstream), with depth and path")
async def impact(ci_id: str, session: SessionDep, direction: Literal["upstream", "downstream"] = "upstream",
                 max_depth: Annotated[int, Query(ge=1, le=MAX_IMPACT_DEPTH)] = 10) -> Response:
    ci = await CiRepository(session).get(ci_id)
    if ci is None:
        raise not_found("configuration item", ci_id)
    rows = await handlers.impact(session, ci, upstream=direction == "upstream", max_depth=max_depth)
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
async def add_relationship(body: RelationshipCreate, runtime: RuntimeDep, response: Response,
                           actor: Actor = SYSTEM) -> RelationshipPublic:
    relationship = await handlers.retrying(runtime, lambda session: handlers.add_relationship(
        session, runtime.outbox, actor=actor, **body.model_dump()))
    response.headers["Location"] = f"/relationships/{relationship.id}"
    return relationship_public(relationship)


@router.get("/relationships/{relationship_id}", response_model=RelationshipPublic)
async def get_relationship(relationship_id: str, session: SessionDep) -> RelationshipPublic:
    relationship = await RelationshipRepository(session).get(relationship_id)
    if relationship is None:
        raise not_found("relationship", relationship_id)
    return relationship_public(relationship)


@router.delete("/relationships/{relationship_id}", response_model=RelationshipPublic,
               summary="Remove a relationship (it stays in the history)")
async def remove_relationship(relationship_id: str, runtime: RuntimeDep, actor: Actor = SYSTEM) -> RelationshipPublic:
    relationship = await handlers.retrying(runtime, lambda session: handlers.remove_relationship(
        session, runtime.outbox, relationship_id, actor=actor))
    return relationship_public(relationship)


@router.post("/imports", response_model=ImportReport,
             summary="Bulk import from a discovery source: identify, reconcile, report per item",
             openapi_extra=json_body(ImportRequest))
async def import_batch(request: Request, runtime: RuntimeDep) -> Response:
    # Thousands of items: parsed from the bytes in one pass, answered as JSON written directly.
    try:
        body = ImportRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    # Imports run side by side; one that clashed with another writer runs again (it is idempotent).
    report = await handlers.retrying(runtime, lambda session: handlers.import_batch(session, runtime.outbox, body))
    if not report["committed"]:
        raise Problem(422, "Unprocessable Content", "all_or_nothing: some items or relationships were rejected, "
                      "so nothing was written", **report)
    return Response(orjson.dumps(report), media_type="application/json")


@router.get("/sources", response_model=SourceList, summary="Discovery sources and their reconciliation priority")
async def list_sources(session: SessionDep) -> SourceList:
    return SourceList(items=[SourcePublic(**s) for s in await SourceRepository(session).all()],
                      default_priority=DEFAULT_PRIORITY)


@router.put("/sources/{name}", response_model=SourcePublic,
            summary="Rank a source: a smaller priority wins; a lower-ranked source never overwrites its fields")
async def put_source(name: SourceName, body: SourceUpdate, runtime: RuntimeDep,
                     actor: Actor = SYSTEM) -> SourcePublic:
    async with runtime.transaction() as session:
        await handlers.put_source(session, name, actor=actor, **body.model_dump())
        return SourcePublic(**next(s for s in await SourceRepository(session).all() if s["name"] == name))

