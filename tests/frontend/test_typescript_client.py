"""A frontend team's code against the running gateway: TypeScript types generated from the
gateway's own /openapi.json (openapi-typescript), a typed fetch client (openapi-fetch),
compiled under --strict and run with Node.js.

What a frontend team finds out first is checked here: the document generates types, code
using them compiles (and code that misnames a field does not), and the calls do what the
types say against real services; then a screen's whole day: signed in with the organisation's
provider, a live list over Server-Sent Events, a change approved by a change manager.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers import gateway_replica, token
from tests.oidc_issuer import serving

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
TOOLCHAIN = HERE.parents[1] / ".devstack" / "frontend"  # `make tools` installs tests/frontend/package.json there


def node(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["node", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture
async def workdir(gateway):
    if not (TOOLCHAIN / "node_modules" / "typescript").is_dir():
        pytest.fail("no TypeScript toolchain: `make tools` (part of `make test`) installs it with npm")
    work = TOOLCHAIN / f"work-{uuid.uuid4().hex[:8]}"  # inside, so Node finds the packages
    work.mkdir()
    try:
        spec = await gateway.get("/openapi.json")
        assert spec.status_code == 200
        (work / "openapi.json").write_bytes(spec.content)
        for name in ("client.ts", "workflow.ts", "tsconfig.json"):
            shutil.copy(HERE / name, work / name)
        # Fields with a default are optional to send: --default-non-nullable would make them required.
        generated = node("../node_modules/openapi-typescript/bin/cli.js", "openapi.json", "-o", "api.d.ts",
                         "--default-non-nullable", "false", cwd=work)
        assert generated.returncode == 0, generated.stderr
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tsc(work: Path) -> subprocess.CompletedProcess:
    return node("../node_modules/typescript/bin/tsc", "-p", ".", cwd=work)


async def test_a_typed_client_compiles_and_its_calls_do_what_the_types_say(workdir, platform):
    compiled = tsc(workdir)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    tag = uuid.uuid4().hex[:8]
    ran = node("out/client.js", cwd=workdir,
               env={"GATEWAY": platform.url("gateway"), "TOKEN": token("frontend-dev"), "TAG": tag})
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert re.fullmatch(r"INC\d+", result["opened"]["number"]) and result["opened"]["state"] == "new"
    assert result["listed"] == [result["opened"]["id"]]
    assert result["imported"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    assert result["impacted_services"] == [f"shop {tag}"]
    assert result["refused"] == {"status": 422, "type": "application/problem+json"}


async def test_code_that_misnames_a_field_does_not_compile(workdir):
    client = (workdir / "client.ts").read_text()
    (workdir / "client.ts").write_text(client.replace("short_description: `checkout", "short_descriptio: `checkout"))
    compiled = tsc(workdir)
    assert compiled.returncode != 0
    assert "short_descriptio" in compiled.stdout


async def test_a_desk_signs_in_with_its_provider_follows_a_live_list_and_a_manager_approves_a_change(workdir, platform):
    compiled = tsc(workdir)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    tag = uuid.uuid4().hex[:8]
    # A provider as Keycloak issues them: roles in realm_access.roles, groups in their own claim.
    with serving() as issuer, gateway_replica(
            platform, "gateway-frontend-oidc", 60, oidc_issuer=issuer.url,
            oidc_audience=issuer.audience, roles_claim="realm_access.roles",
            role_map=json.dumps({"desk": "agent", "cab": "change_manager"})) as url:
        agent = issuer.token(issuer.key("ES256"), sub=f"ana-{tag}", realm_access={"roles": ["desk"]})
        manager = issuer.token(issuer.key("RS256"), sub=f"max-{tag}", realm_access={"roles": ["cab"]},
                               groups=["cab", f"payments-{tag}"])
        ran = node("out/workflow.js", cwd=workdir,
                   env={"GATEWAY": url, "AGENT_TOKEN": agent, "MANAGER_TOKEN": manager, "TAG": tag})
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["me"] == {"id": f"max-{tag}", "roles": ["requester", "agent", "change_manager"],
                            "groups": ["cab", f"payments-{tag}"]}
    # The list learnt of the incident and of its assignment from the stream alone, in order.
    live = result["live"]
    assert live["assignment_group"] == f"payments-{tag}"
    assert live["events"][0] == "itsm.incident.opened" and "itsm.incident.assigned" in live["events"]
    assert result["agent_approval"] == {"status": 403, "role": "change_manager"}
    assert result["approved"] == {"state": "scheduled", "approvals": [[f"max-{tag}", "approve"]]}
