"""`python -m itsm_<service> serve|migrate`: the same two commands for every service."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from itsm_kit.migrations import upgrade
from itsm_kit.settings import ServiceSettings


def main(settings_cls: type[ServiceSettings], create_app: Callable[[ServiceSettings], FastAPI], migrations_dir: Path,
         argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"itsm-{settings_cls.service}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP API, outbox relay and consumers")
    migrate = sub.add_parser("migrate", help="upgrade the service database to the latest schema")
    migrate.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    settings = settings_cls()
    if args.command == "migrate":
        upgrade(Path(settings.migrations_dir) if settings.migrations_dir else migrations_dir, settings, args.revision)
        return
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, loop="uvloop", http="httptools",
        log_config=None, timeout_graceful_shutdown=15,
    )
