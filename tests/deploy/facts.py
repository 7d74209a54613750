"""What the deployment files must agree with, read from the code, and how to render them.

Facts come from the services themselves (settings, deploy/Dockerfile, topics, consumers), so a
new setting without a default or a new topic fails these tests until the deployment has it.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from itsm_contracts import topics
from itsm_kit.settings import METRICS_PORT_OFFSET

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
TOOLS = REPO / ".devstack" / "bin"


@dataclass(frozen=True)
class Service:
    name: str
    settings_cls: type
    port: int
    consumes: tuple[str, ...]

    @property
    def image(self) -> str:
        return f"itsm-{self.name}"

    @property
    def metrics_port(self) -> int:
        """Where the service serves /metrics unless told otherwise (and nothing else there)."""
        return self.port + METRICS_PORT_OFFSET

    def required_env(self) -> list[str]:
        """Settings without a default: each must be set, as ITSM_<SERVICE>_<NAME> or ITSM_<NAME>."""
        return [f"ITSM_{self.name.upper()}_{field.upper()}"
                for field, info in self.settings_cls.model_fields.items() if info.is_required()]

    def settings_from(self, env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
        """The service's settings as the container would build them from exactly `env`."""
        for key in list(os.environ):
            if key.startswith("ITSM_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return self.settings_cls()


def _service(name: str) -> Service:
    module = importlib.import_module(f"itsm_{name}.settings")
    settings_cls = next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")
    try:
        consumes = tuple(importlib.import_module(f"itsm_{name}.consumers").CONSUMES)
    except (ModuleNotFoundError, AttributeError):
        consumes = ()
    return Service(name, settings_cls, settings_cls.model_fields["port"].default, consumes)


SERVICES = [_service(p.name) for p in sorted((REPO / "services").iterdir()) if (p / "pyproject.toml").exists()]
BY_NAME = {s.name: s for s in SERVICES}
# Every topic a service publishes or consumes, and the dead-letter topic of each.
TOPICS = {t for topic in topics.ALL for t in (topic, topics.dead_letter(topic))}


# --- deploy/Dockerfile, as the builder reads it for one service ---------------------------------

DOCKERFILE = REPO / "deploy" / "Dockerfile"
# Instructions whose arguments the builder expands itself; RUN, CMD and HEALTHCHECK are left to
# the shell (RUN at build time, with the stage's ARGs and ENV; CMD and HEALTHCHECK at run time,
# with ENV only: build args are gone by then).
_EXPANDED_BY_BUILDER = {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
                        "ARG"}
_EXPANDED_AT_RUN_TIME = {"CMD", "ENTRYPOINT", "HEALTHCHECK"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))")
# What the base image (python:3.11-slim) sets and this file builds on.
_BASE_ENV = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


@dataclass
class Stage:
    name: str | None
    # (INSTRUCTION, arguments), what the builder expands expanded; RUN, CMD, HEALTHCHECK as written.
    instructions: list[tuple[str, str]]
    args: dict[str, str | None]  # the ARGs the stage declares: their value, None when given none
    env: dict[str, str]          # the environment the stage sets (with the base image's), as the image keeps it
    # Variables used where nothing declares them: the builder or the shell makes them "" without a word.
    undeclared: set[str]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuation lines joined."""
    lines = [ln.strip() for ln in text.replace("\\\n", " ").splitlines()]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1].strip() if " " in ln else "")
            for ln in lines if ln and not ln.startswith("#")]


def _expand(text: str, scope: dict[str, str | None], undeclared: set[str]) -> str:
    def value(match: re.Match) -> str:
        name, operator, word = match.group(1) or match.group(4), match.group(2), match.group(3)
        if name not in scope and operator is None:
            undeclared.add(name)
        current = scope.get(name) or ""
        if operator == "-":
            return current or word
        if operator == "+":
            return word if current else ""
        return current
    return _VARIABLE.sub(value, text)


def dockerfile_stages(build_args: dict[str, str]) -> list[Stage]:
    """deploy/Dockerfile's stages for `build_args`: an ARG is seen only in the stage that declares it
    (one before the first FROM only by FROM), ENV from where it is set on, ENV over ARG."""
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for op, raw in instructions:
        if op == "FROM":
            image, *name = re.split(r"\s+as\s+", _expand(raw, global_args, set()), flags=re.I)
            parent = next((s for s in stages if s.name == image), None)
            stages.append(Stage(name[0] if name else None, [], {}, dict(parent.env if parent else _BASE_ENV), set()))
            continue
        if not stages:
            assert op == "ARG", f"{op} before the first FROM"
            for declaration in shlex.split(raw):
                key, has_default, default = declaration.partition("=")
                global_args[key] = build_args.get(key, default if has_default else None)
            continue
        stage = stages[-1]
        build_scope = {**stage.args, **stage.env}
        if op == "ARG":
            for declaration in shlex.split(raw):
                key, has_default, default = declaration.partition("=")
                given = _expand(default, build_scope, stage.undeclared) if has_default else global_args.get(key)
                stage.args[key] = build_args.get(key, given)
        elif op == "ENV":
            words = shlex.split(raw)
            pairs = [w.partition("=")[::2] for w in words] if "=" in words[0] else [(words[0], " ".join(words[1:]))]
            for key, value in pairs:
                stage.env[key] = _expand(value, build_scope, stage.undeclared)
            raw = " ".join(f"{key}={stage.env[key]}" for key, _ in pairs)
        elif op in _EXPANDED_BY_BUILDER:
            raw = _expand(raw, build_scope, stage.undeclared)
        elif op == "RUN":
            _expand(raw, build_scope, stage.undeclared)  # only to see what it uses
        elif op in _EXPANDED_AT_RUN_TIME:
            _expand(raw, stage.env, stage.undeclared)
        stage.instructions.append((op, raw))
    return stages


def dockerfile_args() -> dict[str, str | None]:
    """Every build arg the file declares, with its default (None: none, so the build must pass it)."""
    declared: dict[str, str | None] = {}
    for op, raw in dockerfile_instructions(DOCKERFILE.read_text()):
        if op == "ARG":
            for declaration in shlex.split(raw):
                key, has_default, default = declaration.partition("=")
                declared[key] = default if has_default else declared.get(key)
    return declared


def build_args(service: str) -> dict[str, str]:
    """The build args docker-compose.yml passes to deploy/Dockerfile for the service (the builder sees strings)."""
    build = load_compose()["services"][service]["build"]
    return {key: str(value) for key, value in (build.get("args") or {}).items()}


def image(service: str) -> list[Stage]:
    """deploy/Dockerfile's stages as docker-compose.yml builds them for the service."""
    return dockerfile_stages(build_args(service))


def dockerfile_expose(service: str) -> int:
    """The port the service's image exposes, once compose's build args are in."""
    [port] = [args for op, args in image(service)[-1].instructions if op == "EXPOSE"]
    assert port.isdigit(), f"{service}: EXPOSE {port!r}"
    return int(port)


def dockerfile_tag(service: str) -> str:
    """The image name deploy/Dockerfile's documented build line gives the service
    (`docker build -f deploy/Dockerfile --build-arg SERVICE=<service> ... -t NAME .`)."""
    text = DOCKERFILE.read_text()
    line = re.search(r"^#\s+docker build -f deploy/Dockerfile (.*) -t (\S+) \.$", text, re.M)
    assert line, "deploy/Dockerfile documents its build line"
    documented = dict(re.findall(r"--build-arg (\w+)=(\S+)", line.group(1)))
    assert documented.keys() == {k for k, default in dockerfile_args().items() if default is None}, \
        "the build line passes every build arg the file needs"
    assert documented["SERVICE"] == "<service>" and "<service>" in line.group(2)
    return line.group(2).replace("<service>", service)


def kustomize_command() -> list[str]:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if (TOOLS / "kustomize").exists():
        return [str(TOOLS / "kustomize"), "build"]
    pytest.fail("neither kubectl nor .devstack/bin/kustomize: `make tools` builds kustomize")


def render(path: Path) -> list[dict]:
    result = subprocess.run([*kustomize_command(), str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def compose_command() -> list[str] | None:
    """`docker compose`, or the Compose CLI that `make tools` builds; None where neither runs."""
    if (TOOLS / "docker-compose").exists():
        return [str(TOOLS / "docker-compose")]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")
_REQUIRED = re.compile(r"\$\{(\w+):\?([^}]*)\}")


def load_compose(env: dict[str, str] | None = None) -> dict:
    """docker-compose.yml as Compose reads it here: anchors merged, ${VAR:-default} as its default, and
    ${VAR:?error} as env gives it (a placeholder naming VAR without env)."""
    text = (REPO / "docker-compose.yml").read_text()
    assert "${" not in _REQUIRED.sub("", _DEFAULTED.sub("", text)), \
        "only ${VAR:-default} and ${VAR:?error} interpolation, so the file works as is or says what is missing"
    text = _REQUIRED.sub(lambda m: (env or {}).get(m.group(1), f"<{m.group(1)}>"), text)
    return yaml.safe_load(_DEFAULTED.sub(lambda m: m.group(2), text))


def readme_section(title: str) -> str:
    """The README's `## title` section, up to the next section."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]
