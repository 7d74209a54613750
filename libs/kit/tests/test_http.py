"""The HTTP mechanics every service shares: problem details, body limit, correlation id, cursors."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import exc as sa_exc
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from itsm_kit import errors
from itsm_kit.errors import Problem
from itsm_kit.middleware import BodyLimitMiddleware, CorrelationIdMiddleware, TextGuardMiddleware
from itsm_kit.pagination import decode_cursor, encode_cursor


class Thing(BaseModel):
    name: str
    size: int


def make_app() -> FastAPI:
    app = FastAPI()
    errors.install(app)
    app.add_middleware(TextGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=100, larger={"/bulk": 1000})
    app.add_middleware(CorrelationIdMiddleware)

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        return thing

    @app.post("/bulk")
    async def bulk(things: list[Thing]) -> int:
        return len(things)

    @app.get("/things/{name}")
    async def read(name: str, q: str = "") -> dict:
        return {"name": name, "q": q}

    @app.delete("/things/{name}", status_code=204)
    async def remove(name: str) -> None:
        return None

    @app.get("/database-down")
    async def database_down() -> None:
        raise sa_exc.OperationalError("SELECT 1", None, ConnectionRefusedError("refused"))

    @app.get("/database-refuses")
    async def database_refuses() -> None:
        raise sa_exc.IntegrityError("INSERT", None, ValueError("duplicate key"))

    @app.get("/conflict")
    async def conflict() -> None:
        raise Problem(409, "Conflict", "it moved", current_state="resolved")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_validation_error_is_a_422_problem_naming_the_field(client):
    response = await client.post("/things", json={"name": "x", "size": "big"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422 and body["instance"] == "/things"
    assert body["errors"][0]["location"] == ["body", "size"]


async def test_invalid_json_is_a_400_problem(client):
    response = await client.post("/things", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["detail"] == "the body is not valid JSON"


async def test_problem_carries_its_extension_members(client):
    body = (await client.get("/conflict")).json()
    assert body == {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "it moved",
                    "instance": "/conflict", "current_state": "resolved"}


async def test_unexpected_error_is_a_500_problem_without_internals(client):
    response = await client.get("/boom")
    assert response.status_code == 500
    assert "secret" not in response.text


async def test_unknown_route_is_a_404_problem(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


async def test_declared_oversize_body_is_413(client):
    response = await client.post("/things", json={"name": "x" * 200, "size": 1})
    assert response.status_code == 413 and response.json()["title"] == "Content Too Large"


async def test_streamed_oversize_body_is_413(client):
    async def chunks():
        for _ in range(10):
            yield b'{"name": "xxxxxxxxxxxxxxxxxxxx"'

    response = await client.post("/things", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_a_path_may_have_its_own_larger_limit(client):
    things = [{"name": "x", "size": n} for n in range(20)]
    assert (await client.post("/bulk", json=things)).json() == 20
    assert (await client.post("/bulk", json=things * 3)).status_code == 413
    assert (await client.post("/things", json={"name": "x" * 200, "size": 1})).status_code == 413


async def test_correlation_id_is_echoed_or_made(client):
    given = await client.get("/conflict", headers={"x-correlation-id": "abc-123"})
    assert given.headers["x-correlation-id"] == "abc-123"
    made = await client.get("/conflict")
    assert len(made.headers["x-correlation-id"]) == 36


def test_cursor_round_trips_and_garbage_is_a_400():
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "i-9")) == (at, "i-9")
    with pytest.raises(Problem) as caught:
        decode_cursor("not-a-cursor")
    assert caught.value.status == 400


@pytest.mark.parametrize(("header", "version"), [(None, None), ('"3"', 3), ('W/"3"', 3), ("3", 3)])
def test_if_match_names_a_version(header, version):
    from itsm_kit.errors import if_match_version

    assert if_match_version(header, "a thing") == version


def test_a_stale_version_is_a_412_naming_the_current_one():
    from itsm_kit.errors import check_version

    check_version("a thing", "t-1", 3, None)
    check_version("a thing", "t-1", 3, 3)
    with pytest.raises(Problem) as caught:
        check_version("a thing", "t-1", 4, 3)
    assert (caught.value.status, caught.value.extra) == (412, {"current_version": 4})


def test_if_match_that_is_no_version_is_a_400():
    from itsm_kit.errors import if_match_version

    with pytest.raises(Problem) as caught:
        if_match_version('"abc"', "a thing")
    assert caught.value.status == 400 and "a thing version" in caught.value.detail


def test_cursor_keeps_any_key_values_and_belongs_to_one_sort_order():
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    cursor = encode_cursor(2, at, "i-9", sort="priority:asc")
    assert decode_cursor(cursor, sort="priority:asc") == (2, at, "i-9")
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor, sort="opened_at:desc")
    assert caught.value.status == 400 and "priority:asc" in caught.value.detail


@pytest.mark.parametrize(("descending", "order", "compare"), [(True, "DESC", "<"), (False, "ASC", ">")])
def test_keyset_orders_and_continues_in_one_direction(descending, order, compare):
    from sqlalchemy import Column, Integer, MetaData, String, Table, select

    from itsm_kit.pagination import keyset

    things = Table("things", MetaData(), Column("id", String), Column("rank", Integer))
    cursor = encode_cursor(3, "t-7", sort="rank")
    sql = str(keyset(select(things), (things.c.rank, things.c.id), descending=descending, limit=10, cursor=cursor,
                     sort="rank").compile(compile_kwargs={"literal_binds": True}))
    assert f"(things.rank, things.id) {compare} (3, 't-7')" in sql
    assert f"ORDER BY things.rank {order}, things.id {order}" in sql and "LIMIT 11" in sql
    with pytest.raises(Problem):  # a cursor of another shape is refused, not misapplied
        keyset(select(things), (things.c.rank, things.c.id), descending=True, limit=10,
               cursor=encode_cursor("t-7", sort="rank"), sort="rank")


async def test_http_latency_is_labelled_with_the_full_route_template():
    from fastapi import APIRouter

    from itsm_kit.metrics import HttpMetricsMiddleware, metrics_endpoint

    inner = APIRouter(prefix="/incidents")

    @inner.get("/{incident_id}")
    async def one(incident_id: int) -> dict:
        return {}

    outer = APIRouter(prefix="/api/v9")
    outer.include_router(inner)
    app = FastAPI()
    app.add_middleware(HttpMetricsMiddleware)
    app.include_router(outer)
    app.add_route("/metrics", metrics_endpoint)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        await c.get("/api/v9/incidents/42")
        await c.get("/api/v9/incidents/43")
        text = (await c.get("/metrics")).text
    assert 'route="/api/v9/incidents/{incident_id}",status="200"} 2.0' in text


async def test_a_write_over_a_newer_version_is_a_409_problem_not_a_500():
    from itsm_kit.records import StaleVersion

    app = FastAPI()
    errors.install(app)

    @app.post("/incidents/{incident_id}")
    async def write(incident_id: str) -> None:
        raise StaleVersion("incident", incident_id)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://incidents") as client:
        answer = await client.post("/incidents/i-1")
    assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json"
    assert "incident i-1" in answer.json()["detail"] and "reload" in answer.json()["detail"]


@pytest.mark.parametrize("body", [b'{"name": "a\\u0000b", "size": 1}', b'{"name": "a\\\\\\u0000", "size": 1}'])
async def test_a_nul_character_in_a_body_is_a_422_before_any_handler(client, body):
    response = await client.post("/things", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert "NUL" in response.json()["detail"]


async def test_a_nul_escape_split_between_chunks_is_seen_and_a_literal_backslash_u_is_not(client):
    async def chunks():
        yield b'{"name": "ab\\u00'
        yield b'00", "size": 1}'

    response = await client.post("/things", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 422 and "NUL" in response.json()["detail"]
    literal = await client.post("/things", content=b'{"name": "C:\\\\u0000", "size": 1}',
                                headers={"content-type": "application/json"})
    assert literal.status_code == 200 and literal.json()["name"] == "C:\\u0000"


@pytest.mark.parametrize("path", ["/things/a%00b", "/things/a%01b", "/things/a%7Fb", "/things/x?q=%00"])
async def test_nul_and_control_characters_in_a_path_or_query_are_a_422(client, path):
    response = await client.get(path)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/things/fine?q=ok")).json() == {"name": "fine", "q": "ok"}


async def test_a_method_no_route_takes_is_a_405_naming_every_method_the_path_takes(client):
    response = await client.put("/things/x", json={})
    assert response.status_code == 405 and response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "DELETE, GET"  # Starlette alone names the first route's only


async def test_an_unreachable_database_is_a_503_to_retry_and_a_refused_query_stays_a_500(client):
    down = await client.get("/database-down")
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert down.headers["content-type"] == "application/problem+json" and "database" in down.json()["detail"]
    assert (await client.get("/database-refuses")).status_code == 500
