"""Typed settings from the environment only (12-factor).

Each service reads `ITSM_<SERVICE>_<FIELD>` first and falls back to the shared
`ITSM_<FIELD>` (e.g. `ITSM_KAFKA_BOOTSTRAP` for all services at once).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

from itsm_kit.internal_auth import check_key
from itsm_kit.kafka import KafkaSecurity

SHARED_PREFIX = "ITSM_"
METRICS_PORT_OFFSET = 100  # /metrics listens here above the API port, unless metrics_port says otherwise


def service_config(service: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=f"ITSM_{service.upper()}_", extra="ignore")


class ServiceSettings(BaseSettings):
    # A refused setting's value stays out of the startup error (and so out of logs): it may be a key.
    model_config = SettingsConfigDict(env_prefix=SHARED_PREFIX, extra="ignore", hide_input_in_errors=True)

    service: ClassVar[str]

    # A server URL (no database, or the `postgres` maintenance one) means: this
    # service's own database `itsm_<service>` on that server.
    database_url: str = "postgresql://itsm:itsm@127.0.0.1:5432/postgres"
    db_pool_size: int = 10
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = 3
    kafka_replication_factor: int = 1
    # Who the services are to Kafka and how they know the brokers (README, "Securing Kafka"): PLAINTEXT
    # only on a trusted network; in production SASL_SSL, SCRAM-SHA-512 with the service's own user.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # PEM files: the CA that signed the brokers' certificates (required with TLS: for a public CA, the
    # system's bundle), and a client certificate and key where the brokers ask for one (mutual TLS).
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Prometheus scrapes /metrics on a port of its own, the only one the monitoring namespace may reach.
    metrics_port: int | None = None  # default: port + METRICS_PORT_OFFSET
    # The gateway signs its calls to the other services with this key, and they take no others
    # (itsm_kit.internal_auth): the same 32+ random characters for every service. `serve` needs it.
    internal_key: SecretStr | None = None
    # `dev` (a throwaway cluster or laptop) accepts the repository's well-known dev keys; nothing else does.
    environment: Literal["production", "dev"] = "production"
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    relay_batch_size: int = 500
    relay_poll_seconds: float = 0.25
    relay_max_attempts: int = 5  # publications Kafka refuses before an outbox event is set aside
    consumer_batch_size: int = 500
    # How long a short read of events waits for more before it is applied (itsm_kit.consumer): fewer, larger runs
    # for a little latency. For the reactions to other services' events; 0 where an event's latency is the product
    # (incidents: an alert to its incident).
    consumer_linger_seconds: float = Field(default=0.05, ge=0, le=1)
    # Consumer offsets are committed at most this often (itsm_kit.consumer): after a crash or a rebalance, at most this
    # long's events are read again, and the inbox skips them.
    consumer_commit_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    # A read's records applied in this many transactions side by side, split by record key (itsm_kit.consumer): more
    # than 1 where events wait on the service (incidents: alerts), 1 where fewer transactions matter more.
    consumer_lanes: int = Field(default=1, ge=1, le=16)
    consumer_max_attempts: int = 3
    consumer_retry_backoff_seconds: float = 0.2
    # Static group membership: a name unique in the group and stable across restarts of one replica
    # (Kubernetes: the pod's name), so a restarted replica takes its partitions straight back without
    # a rebalance. Unset: the replica joins as a new member each time.
    consumer_group_instance_id: str | None = None
    # How long a member that stopped heartbeating keeps its partitions (the broker's minimum is 6 s).
    consumer_session_timeout_seconds: float = 6.0
    startup_timeout_seconds: float = 60.0
    # Where `migrate` finds the Alembic history: beside the source tree by default, set
    # in container images, where the package is installed and the history copied.
    migrations_dir: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(settings_cls, env_prefix=SHARED_PREFIX)
        return init_settings, env_settings, shared, file_secret_settings

    @field_validator("consumer_group_instance_id")
    @classmethod
    def _unset_if_empty(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_cafile", "kafka_ssl_certfile",
                     "kafka_ssl_keyfile", mode="before")
    @classmethod
    def _kafka_unset_if_empty(cls, value: str | None) -> str | None:
        return value or None  # a variable set to "" (a template's blank) is one not set

    @model_validator(mode="after")
    def _kafka_security_consistent(self) -> "ServiceSettings":
        """Refuse settings that would connect other than the operator thinks: without the credentials or CA
        they meant, or sending a password in the clear."""
        protocol, sasl, tls = self.kafka_security_protocol, self.kafka_security_protocol.startswith("SASL_"), \
            self.kafka_security_protocol.endswith("SSL")
        where = f"ITSM_KAFKA_SECURITY_PROTOCOL={protocol}"
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"{where} authenticates: set ITSM_KAFKA_SASL_USERNAME and ITSM_KAFKA_SASL_PASSWORD")
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password):
            raise ValueError(f"{where} sends no credentials, yet ITSM_KAFKA_SASL_USERNAME or _PASSWORD is set: "
                             "use SASL_SSL")
        if sasl and not tls and self.kafka_sasl_mechanism == "PLAIN":
            raise ValueError(f"SASL PLAIN over {protocol} sends the password in the clear: use SASL_SSL")
        if tls and not self.kafka_ssl_cafile:
            raise ValueError(f"{where} needs ITSM_KAFKA_SSL_CAFILE, the CA that signed the brokers' certificates "
                             "(for a public CA, the system's bundle, e.g. /etc/ssl/certs/ca-certificates.crt)")
        if not tls and (self.kafka_ssl_cafile or self.kafka_ssl_certfile or self.kafka_ssl_keyfile):
            raise ValueError(f"{where} does not use TLS, yet ITSM_KAFKA_SSL_* is set: use SSL or SASL_SSL")
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("ITSM_KAFKA_SSL_KEYFILE without ITSM_KAFKA_SSL_CERTFILE, the certificate it goes with")
        return self

    @property
    def kafka_security(self) -> KafkaSecurity:
        """What every Kafka client of this service is made with (itsm_kit.kafka)."""
        return KafkaSecurity(self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_sasl_username,
                             self.kafka_sasl_password, self.kafka_ssl_cafile, self.kafka_ssl_certfile,
                             self.kafka_ssl_keyfile)

    @model_validator(mode="after")
    def _internal_key_and_metrics_port(self) -> "ServiceSettings":
        if self.internal_key is not None:
            check_key(self.internal_key.get_secret_value(), self.environment)
        if self.metrics_port is None:
            self.metrics_port = self.port + METRICS_PORT_OFFSET
        return self

    @field_validator("database_url")
    @classmethod
    def _own_database(cls, url: str) -> str:
        parsed = make_url(url)
        if parsed.database in (None, "", "postgres"):
            parsed = parsed.set(database=f"itsm_{cls.service}")
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)

    @property
    def source(self) -> str:
        """CloudEvents `source` of everything this service publishes."""
        return f"itsm/{self.service}"
