"""Rendered once per session: both Kubernetes overlays and docker-compose.yml."""

from __future__ import annotations

import pytest

from tests.deploy.facts import K8S, OVERLAYS, load_compose, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    return {overlay: render(K8S / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def compose() -> dict:
    return load_compose()
