"""Every gateway operation has an operationId a client generator turns into a readable method name: the
route function's name, a snake_case verb phrase (`list_incidents`, `approve_change`), unique in the document."""

from __future__ import annotations

import re

import pytest

METHODS = {"get", "post", "put", "patch", "delete"}
# What an operation does, first: a generated client reads `client.list_incidents()`, not `client.incidents()`.
VERBS = {"list", "get", "create", "open", "request", "register", "add", "update", "change", "replace", "put",
         "delete", "remove", "revoke", "resolve", "close", "reopen", "cancel", "approve", "reject", "submit",
         "schedule", "implement", "review", "complete", "assign", "link", "unlink", "count", "import", "export",
         "receive", "enqueue", "check", "repair", "stream", "search", "acknowledge", "set", "start", "stop",
         "record", "publish", "retire", "promote", "mark", "move", "escalate", "fulfil", "fulfill", "authorize",
         "decide", "investigate", "attach", "detach", "read", "refresh", "raise", "withdraw", "accept", "declare",
         "redrive",  # redrive: put dead deliveries back (issue 16)
         "preview",  # preview: render a message template with sample data, nothing sent (issue 16)
         "apply",  # apply: a work-order template to an incident, change or request (issue 17)
         "dry"}  # dry_run: what dispatch would decide, nothing written (issue 17)
SNAKE = re.compile(r"^[a-z]+(_[a-z0-9]+)*$")


@pytest.fixture(scope="module")
def spec() -> dict:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ITSM_GATEWAY_JWT_SECRET", "x" * 48)
        from itsm_gateway.main import create_app

        return create_app().openapi()


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, operation) for path, item in spec["paths"].items()
            for method, operation in item.items() if method in METHODS]


def test_every_operation_has_a_unique_snake_case_verb_phrase_as_its_operation_id(spec):
    ids = [operation.get("operationId") for _, _, operation in operations(spec)]
    assert len(ids) > 50 and all(ids), [f"{m} {p}" for m, p, o in operations(spec) if not o.get("operationId")]
    assert len(set(ids)) == len(ids), sorted({i for i in ids if ids.count(i) > 1})
    assert not [i for i in ids if not SNAKE.match(i)]
    assert not [i for i in ids if i.split("_")[0] not in VERBS]


def test_an_operation_id_is_the_route_functions_name(spec):
    by_id = {operation["operationId"]: (method, path) for method, path, operation in operations(spec)}
    assert by_id["list_incidents"] == ("get", "/api/v1/incidents")
    assert by_id["get_incident"] == ("get", "/api/v1/incidents/{incident_id}")
    assert by_id["create_incident"] == ("post", "/api/v1/incidents")
    assert by_id["enqueue_pagerduty_event_at_root"] == ("post", "/v2/enqueue")
