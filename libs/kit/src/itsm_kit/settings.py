"""Typed settings from the environment only (12-factor).

Each service reads `ITSM_<SERVICE>_<FIELD>` first and falls back to the shared
`ITSM_<FIELD>` (e.g. `ITSM_KAFKA_BOOTSTRAP` for all services at once).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

SHARED_PREFIX = "ITSM_"


def service_config(service: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=f"ITSM_{service.upper()}_", extra="ignore")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=SHARED_PREFIX, extra="ignore")

    service: ClassVar[str]

    # A server URL (no database, or the `postgres` maintenance one) means: this
    # service's own database `itsm_<service>` on that server.
    database_url: str = "postgresql://itsm:itsm@127.0.0.1:5432/postgres"
    db_pool_size: int = 10
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = 3
    kafka_replication_factor: int = 1
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    relay_batch_size: int = 500
    relay_poll_seconds: float = 0.25
    consumer_batch_size: int = 500
    consumer_max_attempts: int = 3
    consumer_retry_backoff_seconds: float = 0.2
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
