"""The gateway's JWT key: refused when weak or the repository's dev-only one (outside dev), never printed."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from pydantic import ValidationError

from itsm_gateway.settings import DEV_ONLY_JWT_SECRETS, GatewaySettings

DEV_KEY = sorted(DEV_ONLY_JWT_SECRETS)[0]


@pytest.fixture
def env(monkeypatch):
    """Only the settings a test gives (not those of the run that started it)."""
    for key in list(os.environ):
        if key.startswith("ITSM_"):
            monkeypatch.delenv(key)

    def given(**settings: str) -> None:
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
    return given


def test_the_repositorys_dev_key_is_refused_outside_dev(env):
    env(ITSM_GATEWAY_JWT_SECRET=DEV_KEY)
    with pytest.raises(ValidationError, match="well-known dev-only key") as refused:
        GatewaySettings()
    assert DEV_KEY not in str(refused.value)


@pytest.mark.parametrize("variable", ["ITSM_ENVIRONMENT", "ITSM_GATEWAY_ENVIRONMENT"])
def test_the_dev_key_works_in_dev(env, variable):
    env(ITSM_GATEWAY_JWT_SECRET=DEV_KEY, **{variable: "dev"})
    assert GatewaySettings().jwt_secret.get_secret_value() == DEV_KEY


@pytest.mark.parametrize("weak", ["changeme", "a-31-character-key-that-is-shor"])
def test_a_weak_key_is_refused_without_printing_it(env, weak):
    env(ITSM_GATEWAY_JWT_SECRET=weak)
    with pytest.raises(ValidationError, match="at least 32 random characters") as refused:
        GatewaySettings()
    assert weak not in str(refused.value)


def test_the_key_is_not_in_the_settings_printed_form(env):
    key = secrets.token_urlsafe(48)
    env(ITSM_GATEWAY_JWT_SECRET=key)
    settings = GatewaySettings()
    assert key not in repr(settings) and key not in str(settings)
    assert settings.jwt_secret.get_secret_value() == key


def test_the_gateway_refuses_to_start_with_the_dev_key_and_does_not_print_it():
    """What an operator sees: `serve` exits at once, names the variable, and the log never holds the key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITSM_")}
    result = subprocess.run([sys.executable, "-m", "itsm_gateway", "serve"], capture_output=True, text=True,
                            timeout=60, env={**env, "ITSM_GATEWAY_JWT_SECRET": DEV_KEY})
    assert result.returncode != 0
    assert "ITSM_GATEWAY_JWT_SECRET" in result.stderr and "ITSM_ENVIRONMENT=dev" in result.stderr, result.stderr
    assert DEV_KEY not in result.stdout + result.stderr
