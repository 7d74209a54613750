"""`make run`: PostgreSQL and Kafka (unless configured), migrations, the nine services, and an SMTP sink that keeps
the platform's e-mail as .eml files under .devstack/dev/mail/ (unless ITSM_NOTIFICATIONS_SMTP_HOST names a relay).

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
from mailsink import MailSink  # noqa: E402
from processes import Platform, jwt_secret  # noqa: E402

# The sink's port, from the base port: clear of the services (base .. base + 8) and their metrics (base + 1000 ..).
SMTP_SINK_OFFSET = 25


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
        sink, mail_env = start_mail_sink(base_port, folder / "mail", os.environ)
        if sink is not None:
            started.callback(stop_mail_sink, sink)
        # The services' internal key (ITSM_INTERNAL_KEY, unless set) is made anew for each run by Platform.
        platform = Platform(infra, folder / "logs", base_port=base_port,
                            extra_env={"ITSM_GATEWAY_JWT_SECRET": secret, **mail_env})
        started.callback(stop_services, platform)
        print("migrating databases ...", flush=True)
        platform.migrate()
        print("starting services ...", flush=True)
        platform.start()
        token = subprocess.run([sys.executable, "-m", "itsm_gateway", "token", "admin", "admin"], env=platform.env,
                               check=True, capture_output=True, text=True).stdout.strip()
        print(banner(platform, token, sink, os.environ), flush=True)
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


def start_mail_sink(base_port: int, folder: Path, environ) -> tuple[MailSink | None, dict[str, str]]:
    """The local SMTP sink and the settings that point the notifications service at it; none where
    ITSM_NOTIFICATIONS_SMTP_HOST already names a relay (which the services then read from the environment)."""
    if environ.get("ITSM_NOTIFICATIONS_SMTP_HOST"):
        return None, {}
    port = int(environ.get("ITSM_SMTP_SINK_PORT") or base_port + SMTP_SINK_OFFSET)
    try:
        sink = MailSink(port=port, folder=folder).start()
    except OSError as exc:  # its port taken: say which, and how to move it
        raise RuntimeError(f"the SMTP sink cannot listen on 127.0.0.1:{port} ({exc}); set ITSM_SMTP_SINK_PORT") from exc
    # Plain SMTP on loopback: no TLS, no login.
    return sink, {"ITSM_NOTIFICATIONS_SMTP_HOST": sink.host, "ITSM_NOTIFICATIONS_SMTP_PORT": str(sink.port),
                  "ITSM_NOTIFICATIONS_SMTP_STARTTLS": "false", "ITSM_NOTIFICATIONS_SMTP_IMPLICIT_TLS": "false"}


def banner(platform: Platform, token: str, sink: MailSink | None, environ) -> str:
    gateway = platform.url("gateway")
    if sink is not None:
        mail = f"{sink.folder}/ (one .eml file a message; SMTP sink on {sink.host}:{sink.port})"
    else:
        relay = environ["ITSM_NOTIFICATIONS_SMTP_HOST"], environ.get("ITSM_NOTIFICATIONS_SMTP_PORT", "25")
        mail = "sent through the SMTP relay {}:{}".format(*relay)
    return f"""
ITSM platform is up.
  gateway   {gateway}
  API docs  {gateway}/docs
  metrics   {platform.metrics_url("gateway")}/metrics (each service: its port + 1000)
  logs      {platform.log_dir}/
  mail      {mail}
  admin token (24 h):
    export TOKEN={token}
Ctrl-C stops everything."""


def stop_mail_sink(sink: MailSink) -> None:
    sink.stop()


def stop_services(platform: Platform) -> None:
    print("stopping services ...", flush=True)
    platform.stop()


def stop_infra(stack: Stack) -> None:
    print("stopping PostgreSQL and Kafka ...", flush=True)
    stack.down()


if __name__ == "__main__":
    sys.exit(main())
