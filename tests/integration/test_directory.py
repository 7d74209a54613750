"""The directory on a real, freshly migrated notifications database: who usernames and group names reach (the
pipeline's look-up), and the import from an identity provider's SCIM 2.0 endpoint (a fake one on loopback)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from itsm_kit.errors import Problem
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications.handlers import directory as handlers
from itsm_notifications.scim import ScimSource, source_of
from itsm_notifications.settings import NotificationsSettings
from itsm_notifications.store.directory import recipients
from tests.helpers import fresh_database

pytestmark = pytest.mark.integration
TOKEN = "scim-test-token"


@pytest.fixture(scope="module")
async def sessions(infra) -> AsyncIterator:
    import os

    from itsm_kit.db import make_engine, make_sessionmaker

    url = await fresh_database("itsm_notifications_directory")
    subprocess.run([sys.executable, "-m", "itsm_notifications", "migrate"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "ITSM_NOTIFICATIONS_DATABASE_URL": url})
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def uow(sessions) -> AsyncIterator[UnitOfWork]:
    from itsm_kit.outbox import Outbox

    async with sessions() as session, session.begin():  # every test starts from an empty directory
        from sqlalchemy import text

        await session.execute(text("TRUNCATE people, groups, group_members"))
    yield UnitOfWork(sessions, Outbox("itsm/notifications"))


class FakeScim:
    """An identity provider's SCIM endpoint: /Users and /Groups as ListResponses, paged by startIndex and count,
    for the bearer token only; `fail` makes a path answer a status instead."""

    def __init__(self):
        self.users: list[dict] = []
        self.groups: list[dict] = []
        self.fail: dict[str, int] = {}
        self.calls: list[tuple[str, dict, str | None]] = []
        scim = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                scim.calls.append((url.path, query, self.headers.get("authorization")))
                resources = {"/scim/v2/Users": scim.users, "/scim/v2/Groups": scim.groups}.get(url.path)
                if url.path in scim.fail or resources is None:
                    return self._send(scim.fail.get(url.path, 404), {"detail": "no"})
                if self.headers.get("authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"detail": "unauthorized"})
                start, count = int(query.get("startIndex", 1)), int(query.get("count", 100))
                page = resources[start - 1:start - 1 + count]
                self._send(200, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                                 "totalResults": len(resources), "itemsPerPage": len(page), "startIndex": start,
                                 "Resources": page})

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/scim+json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/scim/v2"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def source(self, **bounds) -> ScimSource:
        return ScimSource(url=self.url, token=TOKEN, **{"page_size": 2, "timeout_seconds": 5, **bounds})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def idp() -> FakeScim:
    fake = FakeScim()
    yield fake
    fake.stop()


def user(n: int, username: str, **extra) -> dict:
    return {"id": f"u-{n}", "userName": username, "displayName": username.title(),
            "emails": [{"value": f"{username}@example.org", "primary": True}], **extra}


async def everyone(uow: UnitOfWork) -> dict[str, object]:
    people, _ = await handlers.list_people(uow, limit=200, cursor=None)
    return {p.username: p for p in people}


# -- the pipeline's look-up ---------------------------------------------------------------------------------------

async def test_recipients_are_the_active_people_and_the_groups_with_their_active_members(uow):
    ada = await handlers.create_person(uow, username="ada", name="Ada", email="ada@example.org",
                                       timezone="Europe/Paris",
                                       working_hours={"days": [1, 2], "start": "09:00", "end": "17:00"})
    bob = await handlers.create_person(uow, username="bob", name="Bob", active=False)
    await handlers.create_person(uow, username="cyd", name="Cyd", chat_handle="@cyd")
    await handlers.create_group(uow, name="Network", email="network@example.org", members=["ada", "bob", "cyd"])
    await handlers.create_group(uow, name="Empty")
    await handlers.create_group(uow, name="Nights", members=["bob"])

    async with uow:
        people, groups = await recipients(uow.session, ["ada", "bob", "nobody"], ["Network", "Empty", "Nights", "X"])
    assert set(people) == {"ada"}
    assert people["ada"].id == ada.id and people["ada"].email == "ada@example.org"
    assert people["ada"].timezone == "Europe/Paris" and people["ada"].working_hours.days == (1, 2)
    assert set(groups) == {"Network", "Empty", "Nights"}
    assert groups["Network"].email == "network@example.org"
    assert [p.username for p in groups["Network"].members] == ["ada", "cyd"]
    assert bob.id not in {p.id for g in groups.values() for p in g.members}
    assert groups["Empty"].members == [] and groups["Nights"].members == []
    async with uow:
        assert await recipients(uow.session, [], []) == ({}, {})


# -- SCIM import -------------------------------------------------------------------------------------------------

async def test_an_import_creates_people_and_groups_page_by_page_and_adopts_hand_made_ones(uow, idp):
    hand_made = await handlers.create_person(uow, username="ada", name="Ada (by hand)")
    await handlers.create_group(uow, name="Network", description="kept")
    idp.users = [user(1, "ada", timezone="Europe/Paris"), user(2, "bob"),
                 user(3, "cyd", active=False, timezone="Not/AZone"), user(4, "dee", emails=[])]
    idp.users.append({"id": "u-5", "userName": "eve", "name": {"formatted": "Eve Formatted"}})
    idp.groups = [{"id": "g-1", "displayName": "Network", "members": [{"value": "u-1"}, {"value": "u-2"},
                                                                       {"value": "u-unknown"}]},
                  {"id": "g-2", "displayName": "Database", "members": [{"value": "u-4"}]}]

    counts = await handlers.import_from_scim(uow, idp.source())

    assert counts == handlers.ImportCounts(created=4, updated=1, deactivated=0, groups=2)
    people = await everyone(uow)
    assert people["ada"].id == hand_made.id and people["ada"].scim_id == "u-1"  # adopted, not doubled
    assert (people["ada"].name, people["ada"].timezone, people["ada"].email) == ("Ada", "Europe/Paris",
                                                                                  "ada@example.org")
    assert people["cyd"].active is False and people["cyd"].timezone == "UTC"  # a bad zone is no reason to stop
    assert people["dee"].email is None and people["eve"].name == "Eve Formatted"
    groups, _ = await handlers.list_groups(uow, limit=10, cursor=None)
    by_name = {g.name: (g, n) for g, n in groups}
    assert by_name["Network"][0].scim_id == "g-1" and by_name["Network"][0].description == "kept"
    network = await handlers.get_group(uow, by_name["Network"][0].id)
    assert [p.username for p in network.members] == ["ada", "bob"]
    assert by_name["Database"][1] == 1
    # Paged as asked (2 a page), with the bearer token on every call.
    user_pages = [q["startIndex"] for path, q, _ in idp.calls if path.endswith("/Users")]
    assert user_pages == ["1", "3", "5"]
    assert {auth for *_, auth in idp.calls} == {f"Bearer {TOKEN}"}


async def test_people_no_longer_listed_are_deactivated_never_deleted(uow, idp):
    idp.users = [user(1, "ada"), user(2, "bob")]
    idp.groups = [{"id": "g-1", "displayName": "Network", "members": [{"value": "u-1"}, {"value": "u-2"}]}]
    await handlers.import_from_scim(uow, idp.source())
    by_hand = await handlers.create_person(uow, username="zed", name="Zed")  # never imported: left alone

    idp.users = [user(1, "ada", displayName="Ada Renamed")]
    idp.groups = [{"id": "g-1", "displayName": "Network", "members": [{"value": "u-1"}]}]
    counts = await handlers.import_from_scim(uow, idp.source())

    assert counts == handlers.ImportCounts(created=0, updated=1, deactivated=1, groups=1)
    people = await everyone(uow)
    assert people["bob"].active is False  # still there: deliveries refer to him
    assert people["ada"].name == "Ada Renamed" and people["ada"].active
    assert people["zed"].active and people["zed"].id == by_hand.id
    # Nothing changed: nothing written, no version moves.
    versions = {p.username: p.version for p in people.values()}
    assert await handlers.import_from_scim(uow, idp.source()) == handlers.ImportCounts()
    assert {p.username: p.version for p in (await everyone(uow)).values()} == versions


@pytest.mark.parametrize("failing, status", [("/scim/v2/Groups", 500), ("/scim/v2/Users", 401)])
async def test_an_identity_provider_that_fails_is_a_502_naming_its_status_and_nothing_is_written(
        uow, idp, failing, status):
    idp.users, idp.groups = [user(1, "ada")], [{"id": "g-1", "displayName": "Network"}]
    idp.fail[failing] = status
    with pytest.raises(Problem) as failed:
        await handlers.import_from_scim(uow, idp.source())
    assert failed.value.status == 502 and str(status) in failed.value.detail
    assert await everyone(uow) == {}  # the users fetched before the failure were not written


async def test_a_wrong_token_is_the_providers_401_as_a_502(uow, idp):
    idp.users = [user(1, "ada")]
    with pytest.raises(Problem) as failed:
        await handlers.import_from_scim(uow, ScimSource(url=idp.url, token="wrong", page_size=10))
    assert failed.value.status == 502 and "401" in failed.value.detail


async def test_an_import_beyond_its_bounds_is_refused_whole(uow, idp):
    idp.users = [user(n, f"user{n}") for n in range(1, 8)]
    with pytest.raises(Problem, match="lists 7 Users, more than the 5"):
        await handlers.import_from_scim(uow, idp.source(max_resources=5))
    assert len(idp.calls) == 1  # refused at the first page, which says how many there are
    with pytest.raises(Problem, match="more than 3 pages"):
        await handlers.import_from_scim(uow, idp.source(max_pages=3))
    assert await everyone(uow) == {}
    assert (await handlers.import_from_scim(uow, idp.source(max_pages=4))).created == 7


async def test_a_provider_that_does_not_answer_is_a_502(uow):
    from tests.receivers import nobody_listening

    with pytest.raises(Problem) as failed:
        await handlers.import_from_scim(uow, ScimSource(url=nobody_listening(), token=TOKEN, timeout_seconds=2))
    assert failed.value.status == 502


def test_without_an_endpoint_an_import_is_a_503():
    with pytest.raises(Problem) as refused:
        source_of(NotificationsSettings(scim_url=None))
    assert refused.value.status == 503 and "ITSM_NOTIFICATIONS_SCIM_URL" in refused.value.detail


async def test_the_periodic_import_runs_where_an_endpoint_and_an_interval_are_set(uow, idp):
    from types import SimpleNamespace

    from tests.helpers import eventually

    idp.users = [user(1, "ada")]
    settings = NotificationsSettings(scim_url=idp.url, scim_token=TOKEN, scim_import_interval_seconds=0.1)
    async with handlers.scim_importing(SimpleNamespace(settings=settings, unit_of_work=lambda: uow)):
        async def imported() -> None:
            assert set(await everyone(uow)) == {"ada"}

        await eventually(imported, timeout=20)
        assert [t for t in asyncio.all_tasks() if t.get_name() == "scim-import"]
    # Off without an interval, or without an endpoint.
    for off in (NotificationsSettings(scim_url=idp.url), NotificationsSettings(scim_import_interval_seconds=5)):
        async with handlers.scim_importing(SimpleNamespace(settings=off, unit_of_work=lambda: uow)):
            assert not [t for t in asyncio.all_tasks() if t.get_name() == "scim-import"]
