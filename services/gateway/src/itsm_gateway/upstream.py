"""Calls to the domain services, with their answers passed through faithfully.

Each call carries the gateway's signature for that one service, naming who acts and their groups
(itsm_kit.internal_auth): pass the signed-in User as `actor` (a bare name acts with no groups).
the services take no other calls, and no header a caller sends here reaches them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

import httpx
from fastapi import Request, Response
from pydantic import BaseModel

from itsm_kit import context
from itsm_kit.domain import SYSTEM
from itsm_kit.errors import Problem
from itsm_kit.internal_auth import Signer, require_key
from itsm_kit.runtime import Runtime

PASSED_HEADERS = ("etag", "location")
SERVICES = ("incidents", "changes", "problems", "cmdb", "sla", "notifications", "requests", "knowledge")
HTTP = "upstream_clients"
WRITES = "upstream_writes"  # callables told (service, path) of each write sent
SIGNER = "internal_signer"
# Where current_user (auth.py) leaves the signed-in user, so that reads name who acts too.
USER_STATE = "user"


class Acting(Protocol):
    """Who acts: the signed-in user (auth.User), as a call names them."""

    id: str
    groups: frozenset[str]


def acting(request: Request) -> Acting | str:
    """The signed-in user of this request, or the system where nobody signed in (webhooks, probes)."""
    return getattr(request.state, USER_STATE, None) or SYSTEM


def _who(actor: Acting | str, groups: Iterable[str]) -> tuple[str, Iterable[str]]:
    return (actor, groups) if isinstance(actor, str) else (actor.id, actor.groups)


@contextlib.asynccontextmanager
async def http_client(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook: a pooled HTTP client per service for the upstream calls, and the key that signs them."""
    runtime.extras[SIGNER] = Signer(require_key(runtime.settings))
    timeout = httpx.Timeout(runtime.settings.upstream_timeout_seconds)
    # A pool per service: httpcore looks over every pooled connection on each request it sends, so one pool
    # for all six services cost the gateway most of its CPU under the composed screens' load.
    async with contextlib.AsyncExitStack() as clients:
        runtime.extras[HTTP] = {
            service: await clients.enter_async_context(
                httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=100)))
            for service in SERVICES}
        yield


async def call(runtime: Runtime, service: str, method: str, path: str, *, actor: Acting | str = SYSTEM,
               groups: Iterable[str] = (), **kwargs: Any) -> httpx.Response:
    """The upstream's response if it succeeded; its problem (or a 502/503 of ours) raised if not.
    `actor`: who acts, as the service will record it: the signed-in User (its id and groups), or a name
    (the caller's token's subject) with `groups`."""
    base = getattr(runtime.settings, f"{service}_url")
    signer: Signer = runtime.extras[SIGNER]
    headers = {"x-correlation-id": context.current_correlation_id(), **kwargs.pop("headers", {}),
               **signer.headers(service, *_who(actor, groups))}
    try:
        response = await runtime.extras[HTTP][service].request(method, f"{base}{path}", headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise Problem(503, "Service Unavailable", f"the {service} service did not answer ({type(exc).__name__})",
                      service=service) from exc
    finally:
        if method != "GET":  # even a failed write may have been done: whoever keeps reads hears of it
            for told in runtime.extras.get(WRITES, ()):
                told(service, path)
    if response.status_code >= 300:  # a redirect is no success: what was asked was not done
        raise upstream_problem(service, response)
    return response


def upstream_problem(service: str, response: httpx.Response) -> Problem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict) or "title" not in body:
        return Problem(502, "Bad Gateway", f"the {service} service answered {response.status_code}", service=service)
    extra = {k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "instance"}}
    problem = Problem(response.status_code, body["title"], body.get("detail"), type_=body.get("type", "about:blank"),
                      **extra)
    return problem


def passed_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in PASSED_HEADERS if name in response.headers}


class Passage:
    """One service's resources re-exposed under `prefix`: writes name who acts (in the signature) and pass
    If-Match on; answers come back with their ETag, and a Location under the public prefix."""

    def __init__(self, service: str, prefix: str):
        self.service, self.prefix = service, prefix

    def relay(self, upstream: httpx.Response, response: Response) -> Any:
        response.headers.update(passed_headers(upstream))
        if "location" in upstream.headers:
            response.headers["location"] = self.prefix + upstream.headers["location"]
        return upstream.json() if upstream.content else None

    async def send(self, runtime: Runtime, response: Response, method: str, path: str, body: BaseModel | None, *,
                   actor: Acting | str, if_match: str | None = None, groups: Iterable[str] = ()) -> Any:
        headers = {"if-match": if_match} if if_match else {}
        # exclude_unset: a PATCH must not turn the fields it left out into nulls.
        json = body.model_dump(mode="json", exclude_unset=True, by_alias=True) if body is not None else None
        upstream = await call(runtime, self.service, method, path, actor=actor, groups=groups, json=json,
                              headers=headers)
        return self.relay(upstream, response)

    async def read(self, runtime: Runtime, request: Request, path: str, response: Response | None = None, *,
                   actor: Acting | str | None = None, params: list[tuple[str, str]] | None = None) -> Any:
        """A read passed on as sent, repeated keys included; the route validated it first (early 422s, OpenAPI).
        It names who acts: `actor`, else the request's signed-in user. `params` replaces the query as sent."""
        upstream = await call(runtime, self.service, "GET", path, actor=actor or acting(request),
                              params=request.query_params.multi_items() if params is None else params)
        return self.relay(upstream, response) if response is not None else upstream.json()
