"""Calls to the domain services: only a 2xx answer is a success."""

from types import SimpleNamespace

import httpx
import pytest

from fastapi import Request, Response

from itsm_kit.errors import Problem
from itsm_kit.internal_auth import Signed, Signer, verify_signed
from itsm_gateway.auth import User
from itsm_gateway.upstream import HTTP, SERVICES, SIGNER, USER_STATE, WRITES, Passage, call


def runtime_answering(status: int, **kwargs) -> SimpleNamespace:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(status, **kwargs)))
    return SimpleNamespace(settings=SimpleNamespace(sla_url="http://sla"),
                           extras={HTTP: dict.fromkeys(SERVICES, client), SIGNER: Signer("k" * 32)})


@pytest.mark.parametrize("status", [301, 307, 308])
async def test_a_redirect_from_a_service_is_a_502_not_a_success(status):
    runtime = runtime_answering(status, headers={"location": "http://sla/calendars/"})
    with pytest.raises(Problem) as refused:
        await call(runtime, "sla", "DELETE", "/calendars/x")
    assert refused.value.status == 502 and "answered" in refused.value.detail


async def test_a_2xx_answer_is_passed_on():
    assert (await call(runtime_answering(204), "sla", "DELETE", "/calendars/x")).status_code == 204


def runtime_recording(seen: list[httpx.Request]) -> SimpleNamespace:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": []})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return SimpleNamespace(settings=SimpleNamespace(incidents_url="http://incidents"),
                           extras={HTTP: dict.fromkeys(SERVICES, client), SIGNER: Signer("k" * 32)})


def signed(request: httpx.Request) -> Signed:
    return verify_signed("k" * 32, "incidents", request.headers["authorization"].removeprefix("Bearer "))


async def test_calls_and_reads_name_the_signed_in_user_and_their_groups():
    seen: list[httpx.Request] = []
    runtime = runtime_recording(seen)
    alice = User("alice", frozenset({"agent"}), frozenset({"network", "service-desk"}))
    await call(runtime, "incidents", "GET", "/incidents", actor=alice)
    await Passage("incidents", "/api/v1").send(runtime, Response(), "POST", "/incidents", None, actor=alice)
    await call(runtime, "incidents", "GET", "/incidents", actor="bob", groups=["ops"])  # as other routes still call it
    request = Request({"type": "http", "method": "GET", "path": "/api/v1/incidents", "query_string": b"q=x",
                       "headers": [], "state": {USER_STATE: alice}})
    await Passage("incidents", "/api/v1").read(runtime, request, "/incidents")
    assert [signed(r) for r in seen] == [Signed("alice", frozenset({"network", "service-desk"}))] * 2 + [
        Signed("bob", frozenset({"ops"})), Signed("alice", frozenset({"network", "service-desk"}))]
    assert seen[-1].url.params["q"] == "x"


async def test_a_read_without_a_signed_in_user_acts_as_the_system():
    seen: list[httpx.Request] = []
    request = Request({"type": "http", "method": "GET", "path": "/x", "query_string": b"", "headers": []})
    await Passage("incidents", "/api/v1").read(runtime_recording(seen), request, "/incidents")
    assert signed(seen[0]) == Signed("system", frozenset())


async def test_whoever_keeps_reads_hears_of_each_write_even_a_failed_one_and_of_no_read():
    told: list[tuple[str, str]] = []
    for status, method, path in ((200, "POST", "/incidents/i1/comments"), (503, "PATCH", "/incidents/i2"),
                                 (200, "GET", "/incidents/i3")):
        runtime = runtime_answering(status, json={"title": "Service Unavailable"} if status == 503 else {})
        runtime.settings.incidents_url = "http://incidents"
        runtime.extras[WRITES] = [lambda service, path: told.append((service, path))]
        try:
            await call(runtime, "incidents", method, path)
        except Problem:
            pass
    assert told == [("incidents", "/incidents/i1/comments"), ("incidents", "/incidents/i2")]


def test_every_route_names_the_signed_in_user_with_their_groups():
    """A route that passes `actor=user.id` signs its call with the id alone: the user's groups never reach the
    service (as 25 write routes once did). Routes pass the User; upstream.call signs its id and groups."""
    from pathlib import Path

    import itsm_gateway.api

    routes = Path(itsm_gateway.api.__file__).parent
    assert not [path.name for path in sorted(routes.glob("*.py")) if "actor=user.id" in path.read_text()]
