"""RFC 9457 problem details for every error a service answers with."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from itsm_kit.domain import Conflict, DomainError
from itsm_kit.outages import database_unavailable

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class Problem(Exception):
    """An error the client can act on. Raise it from handlers or the domain's edges."""

    def __init__(self, status: int, title: str, detail: str | None = None, *, type_: str = "about:blank", **extra: Any):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = extra
        self.headers: dict[str, str] = {}


T = TypeVar("T")


# How long a caller is asked to wait when PostgreSQL or Kafka cannot take its request.
RETRY_AFTER_SECONDS = 5


def unavailable(detail: str) -> Problem:
    """A 503 the caller retries after a while (Alertmanager retries 5xx, never 4xx)."""
    problem = Problem(503, "Service Unavailable", detail)
    problem.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return problem


def not_found(what: str, ident: object) -> Problem:
    return Problem(404, "Not Found", f"{what} {ident} does not exist")


def found(value: T | None, what: str, ident: object) -> T:
    """The value a lookup found, or the 404 that names what does not exist."""
    if value is None:
        raise not_found(what, ident)
    return value


def if_match_version(value: str | None, what: str = "a") -> int | None:
    """The version an If-Match header names (`"3"`, `W/"3"` or `3`); None when there is none."""
    if value is None:
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise Problem(400, "Bad Request", f"If-Match must be {what} version (its ETag)") from None


def check_version(what: str, ident: object, version: int, if_match: int | None) -> None:
    """A 412 when the client's If-Match names another version than the current one."""
    if if_match is not None and if_match != version:
        raise Problem(412, "Precondition Failed",
                      f"{what} {ident} is at version {version}, not {if_match}; reload it and retry",
                      current_version=version)


def problem_response(status: int, title: str, detail: str | None = None, *, type_: str = "about:blank",
                     instance: str | None = None, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"location": [str(p) for p in err.get("loc", ())], "message": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette's 405 names only the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "methods", None) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, type_=exc.type, instance=request.url.path,
                                headers=exc.headers, **exc.extra)

    @app.exception_handler(DomainError)
    async def _rule(request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, Conflict):
            return problem_response(409, "Conflict", str(exc), instance=request.url.path, **exc.details)
        return problem_response(422, "Unprocessable Content", str(exc), instance=request.url.path, **exc.details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(400, "Bad Request", "the body is not valid JSON", instance=request.url.path,
                                    errors=errors)
        detail = "; ".join(f"{'.'.join(e['location'])}: {e['message']}" for e in errors[:5])
        return problem_response(422, "Unprocessable Content", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        from http import HTTPStatus

        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(exc.status_code, title, detail, instance=request.url.path, headers=headers)

    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        """PostgreSQL unreachable or restarting is a 503 to retry; any other such error stays a 500."""
        if not database_unavailable(exc):
            raise exc
        problem = unavailable(f"the database is unavailable ({type(exc).__name__}); retry")
        return problem_response(problem.status, problem.title, problem.detail, instance=request.url.path,
                                headers=problem.headers)

    for error in (OSError, SQLAlchemyError, asyncpg.PostgresError):
        app.add_exception_handler(error, _database_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(500, "Internal Server Error", "the error was logged", instance=request.url.path)
