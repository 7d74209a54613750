"""Each service's image: runs as non-root, checks its health on its own port, migrates from its history.

No Docker engine here, so the Dockerfiles are read, not built; what they say must agree
with the code (ports, module names, paths) and with the hardening operators expect.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").exists())


def final_stage(service: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of the last stage, continuation lines joined."""
    text = (REPO / "services" / service / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    stages = [i for i, ln in enumerate(lines) if ln.upper().startswith("FROM ")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines[stages[-1]:]]


def default_port(service: str) -> int:
    module = importlib.import_module(f"itsm_{service}.settings")
    settings_cls = next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")
    return settings_cls.model_fields["port"].default


def test_every_service_has_a_dockerfile():
    assert SERVICES == ["changes", "cmdb", "gateway", "incidents", "problems", "sla"]
    assert all((REPO / "services" / s / "Dockerfile").exists() for s in SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_multi_stage_and_runs_as_non_root(service):
    stage = final_stage(service)
    text = (REPO / "services" / service / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = [args for op, args in stage if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert not any(op == "RUN" and ("pip install" in args or "apt-get" in args) for op, args in stage), \
        "no build tools in the final image"
    env = " ".join(args for op, args in stage if op == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env


@pytest.mark.parametrize("service", SERVICES)
def test_port_healthcheck_and_command_agree_with_the_service(service):
    stage = final_stage(service)
    port = default_port(service)
    assert ("EXPOSE", str(port)) in stage
    [healthcheck] = [args for op, args in stage if op == "HEALTHCHECK"]
    assert f"127.0.0.1:{port}/healthz" in healthcheck
    [cmd] = [args for op, args in stage if op == "CMD"]
    assert cmd == f'["python", "-m", "itsm_{service}", "serve"]'
    env = " ".join(args for op, args in stage if op == "ENV")
    assert f"ITSM_{service.upper()}_HOST=0.0.0.0" in env


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_are_copied_where_the_image_looks_for_them(service):
    stage = final_stage(service)
    env = " ".join(args for op, args in stage if op == "ENV")
    target = re.search(rf"ITSM_{service.upper()}_MIGRATIONS_DIR=(\S+)", env).group(1)
    assert ("COPY", f"services/{service}/migrations {target}") in stage
    assert (REPO / "services" / service / "migrations" / "env.py").exists()


@pytest.mark.parametrize("service", SERVICES)
def test_build_stage_copies_only_paths_that_exist(service):
    text = (REPO / "services" / service / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+) ", text, re.M):
        assert (REPO / source).exists(), source
