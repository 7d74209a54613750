"""`make run`: PostgreSQL and Kafka (unless configured), migrations, the six services.

Ctrl-C (or SIGTERM) stops the services, then whatever infrastructure this started. So does a
start that fails partway (or is interrupted): what it started is stopped, so the next
`make run` finds its ports free.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devstack import REPO, DevstackError, Stack  # noqa: E402
from processes import Platform, jwt_secret  # noqa: E402


def _interrupt(signum, frame) -> None:
    # SIGTERM like Ctrl-C: both end a start as well as a running stack, through the same cleanup.
    raise KeyboardInterrupt


def _still_stopping(signum, frame) -> None:
    print("still stopping ...", flush=True)


def main() -> int:
    base_port = int(os.environ.get("ITSM_BASE_PORT", "8000"))  # a typo fails before anything starts
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    started = contextlib.ExitStack()  # what to stop, newest first
    try:
        stack = Stack("dev")
        print("starting PostgreSQL and Kafka ...", flush=True)
        infra = stack.up()  # stops what it started itself if it fails
        if stack.started_by_us():
            started.callback(stop_infra, stack)
        folder = REPO / ".devstack" / "dev"
        secret = os.environ.get("ITSM_GATEWAY_JWT_SECRET") or jwt_secret(folder)
        # The services' internal key (ITSM_INTERNAL_KEY, unless set) is made anew for each run by Platform.
        platform = Platform(infra, folder / "logs", base_port=base_port, extra_env={"ITSM_GATEWAY_JWT_SECRET": secret})
        started.callback(stop_services, platform)
        print("migrating databases ...", flush=True)
        platform.migrate()
        print("starting services ...", flush=True)
        platform.start()
        token = subprocess.run([sys.executable, "-m", "itsm_gateway", "token", "admin", "admin"], env=platform.env,
                               check=True, capture_output=True, text=True).stdout.strip()
        gateway = platform.url("gateway")
        print(f"""
ITSM platform is up.
  gateway   {gateway}
  API docs  {gateway}/docs
  metrics   {platform.metrics_url("gateway")}/metrics (each service: its port + 1000)
  logs      {platform.log_dir}/
  admin token (24 h):
    export TOKEN={token}
Ctrl-C stops everything.""", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        return 0
    except (DevstackError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"make run failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _still_stopping)  # a second Ctrl-C must not cut the stopping short
        started.close()


def stop_services(platform: Platform) -> None:
    print("stopping services ...", flush=True)
    platform.stop()


def stop_infra(stack: Stack) -> None:
    print("stopping PostgreSQL and Kafka ...", flush=True)
    stack.down()


if __name__ == "__main__":
    sys.exit(main())
