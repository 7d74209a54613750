"""The gateway's limits and key cache are configured by environment, and its OpenAPI document says it throttles."""

import pytest

from itsm_gateway.settings import GatewaySettings


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("ITSM_GATEWAY_JWT_SECRET", "x" * 48)
    return monkeypatch


def test_limits_and_the_key_cache_come_from_the_environment(env):
    for name, value in {"KEY_CACHE_SECONDS": "1.5", "KEY_NEGATIVE_CACHE_SECONDS": "10", "KEY_CACHE_SIZE": "50",
                        "KEY_OUTAGE_GRACE_SECONDS": "600", "KEY_LOOKUP_TIMEOUT_SECONDS": "0.5",
                        "PUBLISH_TIMEOUT_SECONDS": "3", "ALERT_RATE_PER_SECOND": "100", "ALERT_BURST": "1000",
                        "FAILED_AUTH_RATE_PER_SECOND": "0.5", "FAILED_AUTH_BURST": "10",
                        "RATE_LIMIT_SIZE": "500"}.items():
        env.setenv(f"ITSM_GATEWAY_{name}", value)
    settings = GatewaySettings()
    assert (settings.key_cache_seconds, settings.key_negative_cache_seconds, settings.key_cache_size) == (1.5, 10, 50)
    assert (settings.key_outage_grace_seconds, settings.key_lookup_timeout_seconds) == (600, 0.5)
    assert settings.publish_timeout_seconds == 3
    assert (settings.alert_rate_per_second, settings.alert_burst) == (100, 1000)
    assert (settings.failed_auth_rate_per_second, settings.failed_auth_burst) == (0.5, 10)
    assert settings.rate_limit_size == 500


def test_the_defaults_bound_the_wait_and_leave_a_storm_room(env):
    settings = GatewaySettings()
    assert settings.key_cache_seconds <= 5 and settings.publish_timeout_seconds <= 5
    assert settings.alert_burst >= 10_000  # the ingest bench's 10,000 alerts in one go, a real storm's


@pytest.mark.parametrize("name", ["KEY_CACHE_SECONDS", "PUBLISH_TIMEOUT_SECONDS", "ALERT_RATE_PER_SECOND"])
def test_a_negative_or_zero_bound_is_refused(env, name):
    env.setenv(f"ITSM_GATEWAY_{name}", "-1")
    with pytest.raises(ValueError, match=name.lower()):
        GatewaySettings()


def test_the_openapi_document_names_429_for_people_and_pagerduty(env):
    from itsm_gateway.main import create_app

    spec = create_app().openapi()
    secured = [(path, op) for path, item in spec["paths"].items() for op in item.values()
               if isinstance(op, dict) and "security" in op]
    assert secured
    for path, operation in secured:
        assert operation["responses"]["429"]["content"]["application/problem+json"], path
    assert "429" in spec["paths"]["/v2/enqueue"]["post"]["responses"]
