"""The nine ITSM processes on this machine: migrate, start, watch, stop.

Used by `make run` (deploy/local/run.py) and by the end-to-end tests, so both start
the platform the same way. Run with the project's virtualenv Python.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# Name and port offset from the base port (8000 in `make run`: gateway 8000 .. knowledge 8008).
SERVICES = {"gateway": 0, "incidents": 1, "changes": 2, "problems": 3, "cmdb": 4, "sla": 5, "notifications": 6,
            "requests": 7, "knowledge": 8}
UPSTREAMS = ("incidents", "changes", "problems", "cmdb", "sla", "notifications", "requests", "knowledge")
# /metrics listens this far above each API port: clear of the test slots (100 apart) and of extra
# gateway replicas (base + 10 .. 90).
METRICS_OFFSET = 1000
# A second replica of a service (start_replica) listens this far above the service's own port: base + 11 .. 19,
# clear of the services (base .. 8), the gateway replicas the tests start (base + 10, 20 .. 90) and `make run`'s
# SMTP sink (base + 25); its metrics METRICS_OFFSET above that, as every service's.
REPLICA_OFFSET = 11
SECOND = "-2"  # a second replica's name: "incidents-2"


def jwt_secret(folder: Path) -> str:
    """A random key per local stack, kept so tokens outlive a restart."""
    path = folder / "jwt-secret"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Platform:
    infra_env: dict[str, str]
    log_dir: Path
    base_port: int = 8000
    host: str = "127.0.0.1"
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The key the gateway signs its calls to the services with: one per stack, unless given.
        self.extra_env = {"ITSM_INTERNAL_KEY": os.environ.get("ITSM_INTERNAL_KEY") or secrets.token_urlsafe(48),
                          **self.extra_env}

    @property
    def internal_key(self) -> str:
        return self.extra_env["ITSM_INTERNAL_KEY"]

    def port(self, name: str) -> int:
        """The API port of a service, or of its second replica (`incidents-2`)."""
        service = name.removesuffix(SECOND)
        return self.base_port + SERVICES[service] + (REPLICA_OFFSET if service != name else 0)

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.port(service)}"

    def metrics_url(self, service: str) -> str:
        return f"http://{self.host}:{self.port(service) + METRICS_OFFSET}"

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.infra_env, **self.extra_env}
        for name, offset in SERVICES.items():
            env[f"ITSM_{name.upper()}_PORT"] = str(self.base_port + offset)
            env[f"ITSM_{name.upper()}_HOST"] = self.host
            env[f"ITSM_{name.upper()}_METRICS_PORT"] = str(self.base_port + METRICS_OFFSET + offset)
            # Static group membership: a service killed and started again takes its partitions straight back.
            env[f"ITSM_{name.upper()}_CONSUMER_GROUP_INSTANCE_ID"] = f"{name}-{self.base_port + offset}"
        for name in UPSTREAMS:  # unless named (a second gateway in front of another stack's services)
            key = f"ITSM_GATEWAY_{name.upper()}_URL"
            env[key] = self.extra_env.get(key, self.url(name))
        return env

    def migrate(self) -> None:
        for name in SERVICES:
            subprocess.run([sys.executable, "-m", f"itsm_{name}", "migrate"], env=self.env, check=True,
                           stdout=subprocess.DEVNULL)

    def start(self, only: list[str] | None = None, timeout: float = 90) -> None:
        names = only or list(SERVICES)
        env = self.env
        for name in names:
            self._spawn(name, env)
        for name in names:
            self.wait_ready(name, timeout)

    def start_replica(self, service: str, timeout: float = 90) -> str:
        """A second replica of a running service, as a scaled-out deployment runs it: the same database and
        consumer group (the group shares the topics' partitions between the two), its own ports and static member
        name. The gateway goes on calling the first. Its name, for url() and stop([name]); stop() stops it too."""
        name = service + SECOND
        prefix, port = f"ITSM_{service.upper()}_", self.port(name)
        self._spawn(name, {**self.env, f"{prefix}PORT": str(port), f"{prefix}METRICS_PORT": str(port + METRICS_OFFSET),
                           f"{prefix}CONSUMER_GROUP_INSTANCE_ID": f"{service}-{port}"})
        self.wait_ready(name, timeout)
        return name

    def _spawn(self, name: str, env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"itsm_{name.removesuffix(SECOND)}", "serve"], env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,  # Ctrl-C reaches run.py, which stops them in order
        )

    def wait_ready(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.log_dir / (name + '.log')}")
            try:
                with urllib.request.urlopen(f"{self.url(name)}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s; see {self.log_dir / (name + '.log')}")

    def kill(self, name: str) -> None:
        """SIGKILL: the crash a reliability test needs, no graceful shutdown."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop(self, names: list[str] | None = None, grace: float = 20) -> None:
        for name in names or list(self.processes):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
