from pydantic import field_validator

from itsm_kit.settings import ServiceSettings, service_config


class GatewaySettings(ServiceSettings):
    model_config = service_config("gateway")
    service = "gateway"

    port: int = 8000
    # HS256 key for user bearer tokens. No default: a gateway with a guessable key
    # would let anyone in, so it refuses to start without a real one.
    jwt_secret: str
    jwt_audience: str = "itsm"
    incidents_url: str = "http://127.0.0.1:8001"
    changes_url: str = "http://127.0.0.1:8002"
    problems_url: str = "http://127.0.0.1:8003"
    cmdb_url: str = "http://127.0.0.1:8004"
    sla_url: str = "http://127.0.0.1:8005"
    upstream_timeout_seconds: float = 10.0
    # A discovery import carries thousands of CIs and relationships in one body.
    cmdb_import_max_body_bytes: int = 32 * 1024 * 1024

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: str) -> str:
        if len(value) < 32 or value.lower() in {"changeme", "change-me", "secret"}:
            raise ValueError("ITSM_GATEWAY_JWT_SECRET must be at least 32 random characters")
        return value
