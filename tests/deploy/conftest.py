"""Rendered once per session: both Kubernetes overlays and docker-compose.yml."""

from __future__ import annotations

import secrets

import pytest

from tests.deploy.facts import K8S, OVERLAYS, load_compose, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    return {overlay: render(K8S / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def compose() -> dict:
    """As Compose reads it for someone who set what it requires (README, "Docker Compose")."""
    return load_compose({"ITSM_GATEWAY_JWT_SECRET": secrets.token_urlsafe(48),
                         "ITSM_INTERNAL_KEY": secrets.token_urlsafe(48)})
