"""Every gateway operation declares the roles that may call it, and none answers without credentials: read from the
gateway's own `/openapi.json` and checked against the app itself (authentication runs before any upstream call, so
no service need be running). Health, readiness, metrics and the monitoring webhooks (integration keys) aside."""

from __future__ import annotations

import re
from types import SimpleNamespace

import httpx
import pytest

METHODS = {"get", "post", "put", "patch", "delete"}
ROLES = {"requester", "agent", "change_manager", "admin"}


def unsigned(path: str, operation: dict) -> bool:
    """Operations callers reach without a user's token: probes, and webhooks that take an integration key."""
    return (not path.startswith("/api/") or path.startswith(("/api/v1/integrations/alertmanager",
                                                            "/api/v1/integrations/grafana",
                                                            "/api/v1/integrations/generic",
                                                            "/api/v1/integrations/pagerduty"))
            # Connector webhooks: signed by the tool with the endpoint's inbound secret (issue 16).
            or re.fullmatch(r"/api/v1/connectors/\{endpoint_id\}/(pagerduty|jira)-webhooks", path) is not None
            or path in ("/v2/enqueue", "/api/v1/changes/deployments",  # integration key (deployment)
                        "/api/v1/changes/calendar.ics"))  # calendar feed key (calendar apps send no token)


@pytest.fixture(scope="module")
def app():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ITSM_GATEWAY_JWT_SECRET", "x" * 48)
        from itsm_gateway.main import create_app
        from itsm_gateway.settings import GatewaySettings

        app = create_app()
        # No lifespan (no PostgreSQL, Kafka or services): only what authentication reads before it refuses.
        app.state.runtime = SimpleNamespace(settings=GatewaySettings(), extras={}, unit_of_work=lambda: None)
        yield app


@pytest.fixture(scope="module")
async def client(app):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # no lifespan, as wanted here
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture(scope="module")
async def secured(client) -> list[tuple[str, str, dict]]:
    spec = (await client.get("/openapi.json")).json()
    found = [(path, method, operation) for path, item in spec["paths"].items()
             for method, operation in item.items() if method in METHODS and not unsigned(path, operation)]
    assert len(found) > 50, "the gateway's user-facing API should be walked, not a handful of it"
    return found


def test_every_operation_names_the_roles_that_may_call_it(secured):
    missing = [f"{method.upper()} {path}" for path, method, operation in secured if not operation.get("x-roles")]
    assert not missing, f"operations without x-roles: {missing}"
    for path, method, operation in secured:
        roles = operation["x-roles"]
        assert set(roles) <= ROLES and "admin" in roles, (path, method, roles)
        assert f"Roles: {', '.join(roles)}." in operation.get("description", ""), (path, method)


def test_admin_work_is_for_admins_and_work_notes_for_agents(secured):
    declared = {(method, path): operation["x-roles"] for path, method, operation in secured}
    assert declared[("post", "/api/v1/integrations")] == ["admin"]
    assert declared[("post", "/api/v1/sla/definitions")] == ["admin"]
    assert declared[("post", "/api/v1/incidents/{incident_id}/work-notes")] == ["agent", "change_manager", "admin"]
    assert declared[("get", "/api/v1/incidents")] == ["requester", "agent", "change_manager", "admin"]
    # Problems and changes are worked by agents; only a change manager decides on a change.
    agents = ["agent", "change_manager", "admin"]
    for method, path in [("get", "/api/v1/changes"), ("patch", "/api/v1/changes/{change_id}"),
                         ("post", "/api/v1/changes/{change_id}/state"), ("get", "/api/v1/problems"),
                         ("patch", "/api/v1/problems/{problem_id}"), ("post", "/api/v1/problems/{problem_id}/state")]:
        assert declared[(method, path)] == agents, (method, path)
    assert declared[("post", "/api/v1/changes/{change_id}/approvals")] == ["change_manager", "admin"]


async def test_no_operation_answers_without_credentials(client, secured):
    for path, method, _ in secured:
        url = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
        response = await client.request(method.upper(), url)
        assert response.status_code == 401, f"{method.upper()} {path} answered {response.status_code}"
        assert response.headers["content-type"].startswith("application/problem+json"), (path, method)
        assert response.headers.get("www-authenticate") == "Bearer", (path, method)
