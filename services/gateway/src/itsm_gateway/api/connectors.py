"""Inbound webhooks of connected tools (PagerDuty v3, Jira): signed by the tool, not by a user.
Issue 16, connectors helper.

The tools cannot hold our tokens, so these routes take none (no security requirement, no x-roles): the raw body and
the tool's signature header go on unchanged to the notifications service, which verifies the signature with the
endpoint's inbound secret. Bodies are bounded by the gateway's max_body_bytes (413 past it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from itsm_kit.api import Ident
from itsm_kit.errors import Problem
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import RoleRoute, limits, source_of
from itsm_gateway.upstream import call

router = APIRouter(tags=["notifications"], route_class=RoleRoute)

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
# The tool's signature and delivery id are all that is passed on of its headers.
PAGERDUTY_HEADERS = ("x-pagerduty-signature",)
JIRA_HEADERS = ("x-hub-signature", "x-atlassian-webhook-identifier")
REFUSALS = {401: {"description": "signature missing or not made with the endpoint's inbound secret",
                  "content": PROBLEM},
            404: {"description": "no connector endpoint of this kind with this id", "content": PROBLEM},
            429: {"description": "too many badly signed calls from this address: retry after Retry-After",
                  "content": PROBLEM},
            413: {"description": "body too large", "content": PROBLEM}}


class WebhookTaken(BaseModel):
    status: str  # published | repeated | ignored | unknown_record


async def _pass_on(runtime, request: Request, response: Response, path: str, names: tuple[str, ...]) -> dict:
    # A bad signature is a failed authentication like a bad key: an address that keeps forging is refused (429)
    # before its calls cost the notifications service a lookup and a MAC.
    source = source_of(request)
    limits(runtime).check_source(source, 429)
    headers = {name: request.headers[name] for name in names if name in request.headers}
    headers["content-type"] = request.headers.get("content-type", "application/json")
    try:
        upstream = await call(runtime, "notifications", "POST", path, content=await request.body(), headers=headers)
    except Problem as refused:
        if refused.status == 401:
            limits(runtime).failed(source)
        raise
    response.status_code = upstream.status_code
    return upstream.json()


@router.post("/connectors/{endpoint_id}/pagerduty-webhooks", status_code=202, response_model=WebhookTaken,
             responses=REFUSALS, summary="PagerDuty v3 webhook of a PagerDuty connector endpoint (no user token: "
                                         "signed with the endpoint's inbound secret, X-PagerDuty-Signature)")
async def receive_pagerduty_connector_webhook(endpoint_id: Ident, request: Request, response: Response,
                                              runtime: RuntimeDep) -> dict:
    return await _pass_on(runtime, request, response, f"/connectors/{endpoint_id}/pagerduty", PAGERDUTY_HEADERS)


@router.post("/connectors/{endpoint_id}/jira-webhooks", status_code=202, response_model=WebhookTaken,
             responses=REFUSALS, summary="Jira webhook of a Jira connector endpoint (no user token: signed with "
                                         "the endpoint's inbound secret, X-Hub-Signature)")
async def receive_jira_connector_webhook(endpoint_id: Ident, request: Request, response: Response,
                                         runtime: RuntimeDep) -> dict:
    return await _pass_on(runtime, request, response, f"/connectors/{endpoint_id}/jira", JIRA_HEADERS)
