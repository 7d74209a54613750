"""What the deployment files must agree with, read from the code, and how to render them.

Facts come from the services themselves (settings, Dockerfiles, topics, consumers), so a
new setting without a default or a new topic fails these tests until the deployment has it.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from itsm_contracts import topics

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


def dockerfile_expose(service: str) -> int:
    text = (REPO / "services" / service / "Dockerfile").read_text()
    [port] = re.findall(r"^EXPOSE (\d+)", text, re.M)
    return int(port)


def dockerfile_tag(service: str) -> str:
    """The image name the Dockerfile's build line gives (`docker build ... -t NAME .`)."""
    text = (REPO / "services" / service / "Dockerfile").read_text()
    return re.search(r"docker build .* -t (\S+) \.", text).group(1)


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


def load_compose() -> dict:
    """docker-compose.yml as Compose reads it here: anchors merged, ${VAR:-default} as its default."""
    text = (REPO / "docker-compose.yml").read_text()
    assert "${" not in _DEFAULTED.sub("", text), "only ${VAR:-default} interpolation, so the file works as is"
    return yaml.safe_load(_DEFAULTED.sub(lambda m: m.group(2), text))


def readme_section(title: str) -> str:
    """The README's `## title` section, up to the next section."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]
