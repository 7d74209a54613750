"""Kafka TLS and SASL settings: every client the kit makes uses them, and inconsistent ones refuse to start.

The broker side (a SASL_SSL listener refusing strangers) is tests/infra/test_kafka_security.py.
"""

import os
import ssl

import certifi
import pytest
from pydantic import ValidationError

from itsm_kit.kafka import make_producer
from itsm_kit.settings import ServiceSettings, service_config

PASSWORD = "n0t-in-any-log-3f9a2c"


class WidgetsSettings(ServiceSettings):
    model_config = service_config("widgets")
    service = "widgets"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("ITSM_"):
            monkeypatch.delenv(key)


def settings(monkeypatch, **env: str) -> WidgetsSettings:
    for key, value in env.items():
        monkeypatch.setenv(f"ITSM_KAFKA_{key.upper()}", value)
    return WidgetsSettings()


def test_plaintext_unless_told_otherwise(monkeypatch):
    assert settings(monkeypatch).kafka_security.client_options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_with_scram_gives_the_clients_the_service_credentials_and_checks_the_brokers(monkeypatch):
    security = settings(monkeypatch, security_protocol="SASL_SSL", sasl_username="itsm-widgets",
                        sasl_password=PASSWORD, ssl_cafile=certifi.where()).kafka_security
    options = security.client_options()
    context = options.pop("ssl_context")
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "itsm-widgets", "sasl_plain_password": PASSWORD}
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname, "the brokers' names are checked"
    assert PASSWORD not in repr(security), "kept out of logs"


async def test_the_producer_the_kit_makes_carries_them(monkeypatch):
    security = settings(monkeypatch, security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="w",
                        sasl_password=PASSWORD, ssl_cafile=certifi.where()).kafka_security
    client = make_producer("kafka:9093", "widgets", security).client  # not started: no broker needed
    assert (client._security_protocol, client._sasl_mechanism, client._sasl_plain_username) == \
        ("SASL_SSL", "PLAIN", "w")
    assert isinstance(client._ssl_context, ssl.SSLContext)


def test_a_service_specific_setting_wins(monkeypatch):
    monkeypatch.setenv("ITSM_WIDGETS_KAFKA_SASL_USERNAME", "itsm-widgets")
    security = settings(monkeypatch, security_protocol="SASL_SSL", sasl_username="someone-else",
                        sasl_password=PASSWORD, ssl_cafile=certifi.where()).kafka_security
    assert security.username == "itsm-widgets"


CREDENTIALS_NEEDED = "set ITSM_KAFKA_SASL_USERNAME and ITSM_KAFKA_SASL_PASSWORD"


@pytest.mark.parametrize(("env", "refusal"), [
    ({"security_protocol": "SASL_SSL", "ssl_cafile": "ca.crt"}, CREDENTIALS_NEEDED),
    ({"security_protocol": "SASL_SSL", "ssl_cafile": "ca.crt", "sasl_username": "u", "sasl_password": ""},
     CREDENTIALS_NEEDED),
    ({"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": PASSWORD}, "needs ITSM_KAFKA_SSL_CAFILE"),
    ({"security_protocol": "SSL"}, "needs ITSM_KAFKA_SSL_CAFILE"),
    ({"sasl_username": "u", "sasl_password": PASSWORD}, "sends no credentials"),
    ({"security_protocol": "SSL", "ssl_cafile": "ca.crt", "sasl_password": PASSWORD}, "sends no credentials"),
    ({"ssl_cafile": "ca.crt"}, "does not use TLS"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u",
      "sasl_password": PASSWORD}, "in the clear"),
    ({"security_protocol": "SSL", "ssl_cafile": "ca.crt", "ssl_keyfile": "client.key"},
     "without ITSM_KAFKA_SSL_CERTFILE"),
    ({"security_protocol": "SASL_TLS"}, "PLAINTEXT"),  # not a protocol: the four that are are listed
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, "SCRAM-SHA-512"),
])
def test_inconsistent_kafka_security_refuses_to_start_and_says_why(monkeypatch, env, refusal):
    with pytest.raises(ValidationError) as refused:
        settings(monkeypatch, **env)
    assert refusal in str(refused.value)
    assert PASSWORD not in str(refused.value), "a refused setting's value is not printed"


def test_a_ca_file_that_cannot_be_read_is_named_when_the_clients_are_made(monkeypatch, tmp_path):
    missing = tmp_path / "kafka-ca" / "ca.crt"
    security = settings(monkeypatch, security_protocol="SSL", ssl_cafile=str(missing)).kafka_security
    with pytest.raises(ValueError, match=f"ITSM_KAFKA_SSL_CAFILE='{missing}'"):
        make_producer("kafka:9093", "widgets", security)
