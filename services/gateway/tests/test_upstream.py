"""Calls to the domain services: only a 2xx answer is a success."""

from types import SimpleNamespace

import httpx
import pytest

from itsm_kit.errors import Problem
from itsm_kit.internal_auth import Signer
from itsm_gateway.upstream import SIGNER, call


def runtime_answering(status: int, **kwargs) -> SimpleNamespace:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(status, **kwargs)))
    return SimpleNamespace(settings=SimpleNamespace(sla_url="http://sla"),
                           extras={"http": client, SIGNER: Signer("k" * 32)})


@pytest.mark.parametrize("status", [301, 307, 308])
async def test_a_redirect_from_a_service_is_a_502_not_a_success(status):
    runtime = runtime_answering(status, headers={"location": "http://sla/calendars/"})
    with pytest.raises(Problem) as refused:
        await call(runtime, "sla", "DELETE", "/calendars/x")
    assert refused.value.status == 502 and "answered" in refused.value.detail


async def test_a_2xx_answer_is_passed_on():
    assert (await call(runtime_answering(204), "sla", "DELETE", "/calendars/x")).status_code == 204
