"""The CMDB for frontends and discovery tools: the cmdb service's resources, typed.

Every write upstream names who acts (the JWT subject, in the gateway's signature). Ranking sources is
for admins; reading, registering, relating and importing for any signed-in user (a
discovery tool signs in as a service account).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from itsm_contracts.api.values import Instant
from itsm_contracts.api.cmdb import (
    CiCreate, CiPage, CiPublic, CiRelationshipList, CiUpdate, CmdbModel, HistoryPage,
    CiQuery, ImpactAnalysis, ImportReport, ImportRequest, RelationshipCreate, RelationshipPublic,
    SourceList, SourcePublic, SourceUpdate, StatusChange,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.openapi import json_body
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, AgentUser, RequesterUser, RoleRoute
from itsm_gateway.upstream import Passage, call

router = APIRouter(prefix="/cmdb", tags=["cmdb"], route_class=RoleRoute)

SourceName = Annotated[str, Path(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]
PREFIX = "/api/v1/cmdb"
IMPORT_TIMEOUT = 120.0  # seconds: twenty thousand items take a few
cmdb = Passage("cmdb", PREFIX)


@router.get("/model", response_model=CmdbModel,
            summary="CI classes with their attributes and identification rules; relationship types both ways")
async def get_cmdb_model(request: Request, runtime: RuntimeDep, user: RequesterUser) -> dict:
    return await cmdb.read(runtime, request, "/model")


@router.get("/cis", response_model=CiPage, summary="List configuration items, newest first (filters, cursor)")
async def list_cis(request: Request, runtime: RuntimeDep, user: RequesterUser,
                   query: Annotated[CiQuery, Query()]) -> dict:
    return await cmdb.read(runtime, request, "/cis")


@router.post("/cis", response_model=CiPublic, status_code=201, summary="Register a configuration item by hand")
async def register_ci(body: CiCreate, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await cmdb.send(runtime, response, "POST", "/cis", body, actor=user)


@router.get("/cis/{ci_id}", response_model=CiPublic,
            summary="A configuration item, now or as it was at a time (as_of)")
async def get_ci(ci_id: Ident, request: Request, runtime: RuntimeDep, user: RequesterUser, response: Response,
                 as_of: Annotated[Instant | None, Query(description="the CI as it was then")] = None) -> dict:
    return await cmdb.read(runtime, request, f"/cis/{ci_id}", response)


@router.patch("/cis/{ci_id}", response_model=CiPublic,
              summary="Change fields of a CI (a person's change applies whatever source wrote the field)")
async def update_ci(ci_id: Ident, body: CiUpdate, runtime: RuntimeDep, user: AgentUser, response: Response,
                    if_match: IfMatchHeader = None) -> dict:
    return await cmdb.send(runtime, response, "PATCH", f"/cis/{ci_id}", body, actor=user, if_match=if_match)


@router.post("/cis/{ci_id}/status", response_model=CiPublic,
             summary="Change the operational status; retired is for good and removes the CI's relationships")
async def change_ci_status(ci_id: Ident, body: StatusChange, runtime: RuntimeDep, user: AgentUser, response: Response,
                        if_match: IfMatchHeader = None) -> dict:
    return await cmdb.send(runtime, response, "POST", f"/cis/{ci_id}/status", body, actor=user, if_match=if_match)


@router.get("/cis/{ci_id}/relationships", response_model=CiRelationshipList,
            summary="The CI's relationships both ways, each named as read from this CI; now or at a time")
async def list_ci_relationships(ci_id: Ident, request: Request, runtime: RuntimeDep, user: RequesterUser,
                           as_of: Annotated[Instant | None, Query()] = None) -> dict:
    return await cmdb.read(runtime, request, f"/cis/{ci_id}/relationships")


@router.get("/cis/{ci_id}/history", response_model=HistoryPage,
            summary="Every change of the CI's fields and relationships, newest first, with source and time")
async def list_ci_history(ci_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                          cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    return await cmdb.read(runtime, request, f"/cis/{ci_id}/history")


@router.get("/cis/{ci_id}/impact", response_model=ImpactAnalysis,
            summary="Impact analysis: what depends on the CI (upstream) or what it depends on (downstream)")
async def get_ci_impact(ci_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                 direction: Literal["upstream", "downstream"] = "upstream",
                 max_depth: Annotated[int, Query(ge=1, le=50)] = 10) -> Response:
    # Thousands of CIs: passed on as the bytes they are, in the shape ImpactAnalysis documents.
    upstream = await call(runtime, "cmdb", "GET", f"/cis/{ci_id}/impact", params=request.query_params.multi_items())
    return Response(upstream.content, media_type="application/json")


@router.post("/relationships", response_model=RelationshipPublic, status_code=201,
             summary="Relate two live CIs (a dangling or retired end is a 422, a duplicate a 409)")
async def add_relationship(body: RelationshipCreate, runtime: RuntimeDep, user: AgentUser,
                           response: Response) -> dict:
    return await cmdb.send(runtime, response, "POST", "/relationships", body, actor=user)


@router.get("/relationships/{relationship_id}", response_model=RelationshipPublic)
async def get_relationship(relationship_id: Ident, request: Request, runtime: RuntimeDep, user: RequesterUser) -> dict:
    return await cmdb.read(runtime, request, f"/relationships/{relationship_id}")


@router.delete("/relationships/{relationship_id}", response_model=RelationshipPublic,
               summary="Remove a relationship (it stays in both CIs' history)")
async def remove_relationship(relationship_id: Ident, runtime: RuntimeDep, user: AgentUser,
                              response: Response) -> dict:
    return await cmdb.send(runtime, response, "DELETE", f"/relationships/{relationship_id}", None, actor=user)


@router.post("/imports", response_model=ImportReport,
             summary="Bulk import from a discovery source: identify, reconcile by source priority, report per item",
             openapi_extra=json_body(ImportRequest))
async def import_cis(request: Request, runtime: RuntimeDep, user: AgentUser) -> Response:
    # Passed on and answered as the bytes they are: an import is thousands of items, and the cmdb
    # service validates them (its 422 comes back as it is); parsing them here too would cost a
    # third of what the import itself does.
    upstream = await call(runtime, "cmdb", "POST", "/imports", content=await request.body(),
                          headers={"content-type": "application/json"}, actor=user, timeout=IMPORT_TIMEOUT)
    return Response(upstream.content, media_type="application/json")


@router.get("/sources", response_model=SourceList, summary="Discovery sources and their reconciliation priority")
async def list_sources(request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await cmdb.read(runtime, request, "/sources")


@router.put("/sources/{name}", response_model=SourcePublic,
            summary="Rank a source (admin): smaller wins; a lower-ranked source never overwrites its fields")
async def replace_source(name: SourceName, body: SourceUpdate, runtime: RuntimeDep, user: AdminUser,
                     response: Response) -> dict:
    return await cmdb.send(runtime, response, "PUT", f"/sources/{name}", body, actor=user)
