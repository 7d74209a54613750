"""deploy/Dockerfile, one file for every service's image: non-root, its own port and module, its own history.

No Docker engine here, so the file is read, not built: each service's image is the file as the
builder expands it with the SERVICE and PORT build args docker-compose.yml passes (facts.image),
an ARG seen only in the stage that declares it. What comes out must agree with the code (ports,
module names, paths) and with the hardening operators expect. The shell-form commands run in
/bin/sh with the image's environment and a stand-in `python` that only reports its arguments.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.facts import BY_NAME, DOCKERFILE, REPO, SERVICES, build_args, dockerfile_args, \
    dockerfile_stages, image

NAMES = [s.name for s in SERVICES]


def ops(stage) -> list[str]:
    return [op for op, _ in stage.instructions]


def only(stage, op: str) -> str:
    [args] = [a for o, a in stage.instructions if o == op]
    return args


def shell_form(command: str) -> str:
    """The shell-form command; an exec-form (JSON) one fails: it could not read the environment."""
    assert not command.startswith("["), f"exec form, so no variable is expanded: {command}"
    return command


def run_in_image(command: str, env: dict[str, str], tmp_path: Path) -> list[str]:
    """The argv `python` gets when /bin/sh runs the shell-form `command` with the image's `env`."""
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\nprintf "%s\\0" python "$@"\n')
    python.chmod(0o755)
    result = subprocess.run(["/bin/sh", "-c", command], env={**env, "PATH": f"{tmp_path}:/usr/bin:/bin"},
                            capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().split("\0")[:-1]


def test_one_dockerfile_builds_every_service():
    assert NAMES == ["changes", "cmdb", "gateway", "incidents", "knowledge", "notifications", "problems", "requests",
                     "sla"]
    assert DOCKERFILE.exists()
    assert not sorted((REPO / "services").glob("*/Dockerfile")), "deploy/Dockerfile builds them all: no copies"
    assert dockerfile_args() == {"SERVICE": None, "PORT": None}, "both given by each build, neither guessed"


def test_the_build_stops_first_when_a_build_arg_is_missing():
    build = dockerfile_stages({})[0]
    guard = ops(build).index("RUN")
    assert guard < ops(build).index("COPY"), "before anything is copied or installed"
    script = build.instructions[guard][1]

    def run(**args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["/bin/sh", "-c", script], env={"PATH": "/usr/bin:/bin", **args},
                              capture_output=True, text=True, timeout=10)

    for args in ({}, {"PORT": "8001"}, {"SERVICE": "", "PORT": "8001"}):
        result = run(**args)
        assert result.returncode != 0 and "--build-arg SERVICE=<name> is required" in result.stderr, args
    for args in ({"SERVICE": "incidents"}, {"SERVICE": "incidents", "PORT": "80O1"}):
        result = run(**args)
        assert result.returncode != 0 and "--build-arg PORT=<port> is required" in result.stderr, args
    for name in NAMES:
        assert run(**build_args(name)).returncode == 0, name


@pytest.mark.parametrize("service", NAMES)
def test_every_variable_is_declared_in_the_stage_that_uses_it(service):
    """An ARG's scope ends at the next FROM, and CMD and HEALTHCHECK see ENV only: anything else is ""."""
    for stage in image(service):
        assert not stage.undeclared, f"stage {stage.name or 'final'} uses undeclared {sorted(stage.undeclared)}"


@pytest.mark.parametrize("service", NAMES)
def test_image_is_multi_stage_and_runs_as_non_root(service):
    stages = image(service)
    final = stages[-1]
    assert len(stages) >= 2
    users = [args for op, args in final.instructions if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert not any(op == "RUN" and ("pip install" in args or "apt-get" in args) for op, args in final.instructions), \
        "no build tools in the final image"
    assert ("COPY", f"--from={stages[0].name} /venv /venv") in final.instructions, "only the virtualenv"
    assert final.env["PATH"].startswith("/venv/bin:")
    assert final.env["PYTHONDONTWRITEBYTECODE"] == "1" and final.env["PYTHONUNBUFFERED"] == "1"
    assert only(final, "STOPSIGNAL") == "SIGTERM"
    assert not any(op == "ENTRYPOINT" for stage in stages for op in ops(stage)), \
        "Compose `command:` and Kubernetes `args:` replace the whole command"


@pytest.mark.parametrize("service", NAMES)
def test_build_stage_installs_the_service_against_the_constraints(service):
    build = image(service)[0]
    assert ("COPY", f"services/{service} services/{service}") in build.instructions
    [install] = [args for op, args in build.instructions if op == "RUN" and "--no-build-isolation" in args]
    assert "-c constraints.txt" in install and "/venv/bin/pip install" in install
    # RUN is the shell's: with the stage's build args, the last package is the service.
    assert re.search(r'\s"?services/(\$SERVICE|\$\{SERVICE\})"?$', install) and build.args["SERVICE"] == service


@pytest.mark.parametrize("service", NAMES)
def test_port_healthcheck_and_command_agree_with_the_service(service, tmp_path):
    final = image(service)[-1]
    port = BY_NAME[service].port
    assert only(final, "EXPOSE") == str(port)
    options, _, check = only(final, "HEALTHCHECK").partition(" CMD ")
    assert re.fullmatch(r"(--[\w-]+=\w+\s*)+", options.strip()), options
    [python, flag, code] = run_in_image(shell_form(check.strip()), final.env, tmp_path)
    assert (python, flag) == ("python", "-c") and f"'http://127.0.0.1:{port}/healthz'" in code
    command = shell_form(only(final, "CMD"))
    assert command.split()[0] == "exec", "python replaces the shell as PID 1, so the SIGTERM reaches it"
    assert run_in_image(command, final.env, tmp_path) == ["python", "-m", f"itsm_{service}", "serve"]
    assert importlib.util.find_spec(f"itsm_{service}.__main__"), "the module runs with -m"


@pytest.mark.parametrize("service", NAMES)
def test_image_environment_names_settings_the_service_reads(service, monkeypatch, compose):
    """ITSM_ variables are settings: the shared names, which every service falls back to."""
    final = image(service)[-1]
    fields = BY_NAME[service].settings_cls.model_fields
    itsm = {k: v for k, v in final.env.items() if k.startswith("ITSM_")}
    assert itsm.keys() >= {"ITSM_HOST", "ITSM_MIGRATIONS_DIR"}
    assert all(name.removeprefix("ITSM_").lower() in fields for name in itsm), sorted(itsm)
    # What the service makes of them in a container, with compose's environment on top.
    environment = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
    settings = BY_NAME[service].settings_from({**itsm, **environment}, monkeypatch)
    assert settings.host == "0.0.0.0", "reachable from outside the container"
    assert settings.migrations_dir == final.env["ITSM_MIGRATIONS_DIR"]


@pytest.mark.parametrize("service", NAMES)
def test_migrations_are_copied_where_the_image_looks_for_them(service):
    final = image(service)[-1]
    target = final.env["ITSM_MIGRATIONS_DIR"]
    assert ("COPY", f"services/{service}/migrations {target}") in final.instructions
    assert (REPO / "services" / service / "migrations" / "env.py").exists()


@pytest.mark.parametrize("service", NAMES)
def test_every_copy_source_exists(service):
    for stage in image(service):
        for op, args in stage.instructions:
            words = args.split()
            if op == "COPY" and not any(w.startswith("--from=") for w in words):
                paths = [w for w in words if not w.startswith("--")]
                sources = json.loads(" ".join(paths))[:-1] if paths[0].startswith("[") else paths[:-1]
                for source in sources:
                    assert (REPO / source).exists(), f"{service}: COPY {source}"
