"""A schemathesis run against the live gateway, real services behind it: generated requests for every operation
of its /openapi.json (bounded, derandomized examples) find no 5xx and no answer that breaks its documented
schema, status or content type.

Left out, so that the run stays harmless to the tests beside it: the stream (it never ends), the monitoring
webhooks (an admin's JWT is no integration key: every call would count as a failed authentication from this
address and throttle the webhooks other tests call), and what changes platform-wide behaviour: the priority
matrix, SLA definitions and calendars (new timers for others' incidents) and the SLA repair.
"""

from __future__ import annotations

import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from tests.helpers import token

pytestmark = pytest.mark.e2e

EXAMPLES = 8  # per operation: ~60 operations in about a minute on two cores
LEFT_OUT = [
    r"^/api/v1/stream",
    r"^/api/v1/integrations/(alertmanager|grafana|generic|pagerduty)",
    r"^/v2/enqueue$",
    r"^/api/v1/sla/(definitions|calendars|repair)",
]
WRITES_LEFT_OUT = [("PUT", "/api/v1/incidents/priority-matrix")]
# Configuration every later test on this shared platform runs under: a generated approval policy, blackout,
# detection rule, subscription, notification endpoint, message template, dispatch rule or group method would change
# what those tests see (their own tests check these writes, input bounds included). Template previews write nothing
# and stay in.
CONFIGURATION_LEFT_OUT = (r"^/api/v1/(change-approval-policies|change-windows|detection-rules|subscriptions|endpoints"
                          r"|templates/\{name\}$|dispatch/(rules|groups))")


@pytest.fixture(scope="module")
def gateway_schema(platform):
    url = platform.url("gateway")
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    schema.config.update(base_url=url)
    for pattern in LEFT_OUT:
        schema = schema.exclude(path_regex=pattern)
    for method, path in WRITES_LEFT_OUT:
        schema = schema.exclude(method=method, path=path)
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        schema = schema.exclude(method=method, path_regex=CONFIGURATION_LEFT_OUT)
    return schema


@pytest.fixture(scope="module")
def session(platform) -> requests.Session:
    session = requests.Session()
    # Its own user, so that its requests count against no other test's per-user budget.
    session.headers["authorization"] = f"Bearer {token(f'schemathesis-{uuid.uuid4().hex[:6]}', roles=['admin'])}"
    yield session
    session.close()


CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]


def test_the_gateway_answers_every_generated_request_as_documented(gateway_schema, session):
    # Operation by operation with hypothesis directly (schemathesis' pytest plugin needs a pytest internal that
    # pytest 9 no longer has); every failing operation is reported, not only the first.
    failures, ran = [], 0
    for result in gateway_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def answers_as_documented(case) -> None:
            case.call_and_validate(session=session, timeout=30, checks=CHECKS)

        try:
            answers_as_documented()
        except Exception as failure:  # noqa: BLE001 - collected, and reported together below
            failures.append(f"{operation.method.upper()} {operation.path}: {str(failure)[:2000]}")
        ran += 1
    assert ran > 40
    assert not failures, "\n\n".join(failures)
