"""`make run`: PostgreSQL and Kafka (unless configured), migrations, the six services.

Ctrl-C (or SIGTERM) stops the services, then whatever infrastructure this started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devstack import REPO, Stack  # noqa: E402
from processes import Platform, jwt_secret  # noqa: E402


def main() -> int:
    stack = Stack("dev")
    print("starting PostgreSQL and Kafka ...", flush=True)
    infra = stack.up()
    folder = REPO / ".devstack" / "dev"
    secret = os.environ.get("ITSM_GATEWAY_JWT_SECRET") or jwt_secret(folder)
    platform = Platform(infra, folder / "logs", base_port=int(os.environ.get("ITSM_BASE_PORT", "8000")),
                        extra_env={"ITSM_GATEWAY_JWT_SECRET": secret})
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
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
  logs      {platform.log_dir}/
  admin token (24 h):
    export TOKEN={token}
Ctrl-C stops everything.""", flush=True)
        stopped.wait()
    finally:
        print("stopping services ...", flush=True)
        platform.stop()
        if stack.started_by_us():
            print("stopping PostgreSQL and Kafka ...", flush=True)
            stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
