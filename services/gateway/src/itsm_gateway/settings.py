import json
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from itsm_kit.settings import ServiceSettings, service_config
from itsm_gateway.oidc import Role

# Keys committed to this repository for throwaway setups (deploy/k8s/overlays/dev, docker-compose.yml
# before it required one): anyone can sign tokens with them, so only ITSM_ENVIRONMENT=dev accepts them.
DEV_ONLY_JWT_SECRETS = frozenset({"dev-only-insecure-jwt-secret-do-not-use-in-production"})


class GatewaySettings(ServiceSettings):
    # A refused setting's value stays out of the startup error (and so out of logs): it may be the key.
    model_config = {**service_config("gateway"), "hide_input_in_errors": True}
    service = "gateway"

    port: int = 8000
    # HS256 key for user bearer tokens. No default: a gateway with a guessable key
    # would let anyone in, so it refuses to start without a real one.
    jwt_secret: SecretStr
    # `dev` (a throwaway cluster or laptop) accepts the repository's well-known dev key; nothing else does.
    environment: Literal["production", "dev"] = "production"
    jwt_audience: str = "itsm"
    # The organisation's OpenID Connect provider (none: only the HS256 tokens above). Its RS256/ES256 tokens
    # are checked against the keys its discovery document names; both kinds of token are accepted.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None  # this API's client id at the provider (required with an issuer)
    oidc_leeway_seconds: float = Field(default=60.0, ge=0, le=300)  # clock skew allowed on exp and nbf
    oidc_refresh_seconds: float = Field(default=30.0, gt=0)  # at most one key fetch per this long
    oidc_keys_max_age_seconds: float = Field(default=300.0, gt=0)  # known keys fetched again after this long
    oidc_timeout_seconds: float = Field(default=5.0, gt=0)
    # Where the provider's tokens carry roles and groups (a claim, or a dotted path such as
    # realm_access.roles), and its role names mapped to ours, e.g. {"itsm-admins": "admin"}.
    roles_claim: str = "roles"
    groups_claim: str = "groups"
    role_map: dict[str, Role] = {}
    incidents_url: str = "http://127.0.0.1:8001"
    changes_url: str = "http://127.0.0.1:8002"
    problems_url: str = "http://127.0.0.1:8003"
    cmdb_url: str = "http://127.0.0.1:8004"
    sla_url: str = "http://127.0.0.1:8005"
    notifications_url: str = "http://127.0.0.1:8006"
    requests_url: str = "http://127.0.0.1:8007"
    knowledge_url: str = "http://127.0.0.1:8008"
    upstream_timeout_seconds: float = 10.0
    # A composed screen waits this long for each of its parts; a part later than that is left out (`unavailable`).
    screen_part_timeout_seconds: float = Field(default=2.0, gt=0)
    # Parts kept between screens, dropped by the events that change them (screen_cache.py); also at most this old
    # (the CMDB's parts change without an event the gateway reads). 0 turns the cache off.
    screen_cache_seconds: float = Field(default=10.0, ge=0)
    screen_cache_size: int = Field(default=20_000, ge=1)
    # A discovery import carries thousands of CIs and relationships in one body.
    cmdb_import_max_body_bytes: int = 32 * 1024 * 1024
    # Webhooks' budgets in bytes of alert text once normalised (common labels and annotations copied
    # into each alert): one alert (PagerDuty's own event limit), and all alerts of one request.
    webhook_alert_max_bytes: int = Field(default=512 * 1024, gt=0)
    webhook_batch_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)

    # Integration keys are cached, so webhooks need no query each and ride out a PostgreSQL outage.
    # A revoked key or a changed policy applies on every replica within key_cache_seconds (at once on
    # the replica that made the change); while PostgreSQL cannot answer, a key it confirmed keeps
    # working for key_outage_grace_seconds.
    key_cache_seconds: float = Field(default=5.0, gt=0)
    key_negative_cache_seconds: float = Field(default=30.0, ge=0)
    key_outage_grace_seconds: float = Field(default=86_400.0, ge=0)
    key_lookup_timeout_seconds: float = Field(default=2.0, gt=0)
    key_cache_size: int = Field(default=10_000, ge=1)
    # A webhook answers 202 once Kafka acknowledged its alerts, or 503 after this long.
    publish_timeout_seconds: float = Field(default=5.0, gt=0)
    # Token buckets (0 turns one off): alerts per integration, failed authentications per source address.
    alert_rate_per_second: float = Field(default=500.0, ge=0)
    alert_burst: int = Field(default=20_000, ge=0)
    failed_auth_rate_per_second: float = Field(default=1.0, ge=0)
    failed_auth_burst: int = Field(default=30, ge=0)
    rate_limit_size: int = Field(default=10_000, ge=1)  # buckets kept per limit
    # Live updates (GET /api/v1/stream, stream.py): heartbeat comments this often; each client's buffer of events
    # (a client further behind is told to reconnect); streams per process and per user; how many events a
    # reconnect with Last-Event-ID may replay (more, or past the topics' retention: `event: reset`), how many
    # replays run at once; a send stuck this long ends the stream; incident callers cached for requesters' streams.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0)
    stream_queue_size: int = Field(default=1_000, ge=1)
    stream_max_clients: int = Field(default=2_000, ge=1)
    stream_max_per_user: int = Field(default=10, ge=1)
    stream_replay_max_events: int = Field(default=100_000, ge=0)
    stream_replay_concurrency: int = Field(default=4, ge=1)
    stream_send_timeout_seconds: float = Field(default=30.0, gt=0)
    stream_topic_refresh_seconds: float = Field(default=10.0, gt=0)  # new topics and partitions followed within
    stream_caller_cache_size: int = Field(default=10_000, ge=1)
    # Requests per signed-in user (token bucket by user id; 0 turns it off): past it, 429 with Retry-After.
    user_rate_per_second: float = Field(default=20.0, ge=0)
    user_burst: int = Field(default=400, ge=0)
    # Browser origins allowed to call the API (CORS), e.g. ["https://desk.example.com"]: JSON or comma-separated;
    # none (the default) sends no CORS headers, so browsers allow only same-origin calls.
    cors_origins: Annotated[list[str], NoDecode] = []

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if len(secret) < 32 or secret.lower() in {"changeme", "change-me", "secret"}:
            raise ValueError("ITSM_GATEWAY_JWT_SECRET must be at least 32 random characters")
        return value

    @model_validator(mode="after")
    def _no_dev_key_outside_dev(self) -> "GatewaySettings":
        if self.environment != "dev" and self.jwt_secret.get_secret_value() in DEV_ONLY_JWT_SECRETS:
            raise ValueError("ITSM_GATEWAY_JWT_SECRET is the repository's well-known dev-only key, accepted only "
                             "with ITSM_ENVIRONMENT=dev: set a random one (e.g. `openssl rand -base64 48`)")
        return self

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else value.split(",")
        if isinstance(value, list):
            value = [origin.strip().rstrip("/") if isinstance(origin, str) else origin for origin in value]
            value = [origin for origin in value if origin != ""]
        return value

    @field_validator("oidc_issuer", "oidc_audience")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _oidc_complete(self) -> "GatewaySettings":
        if self.oidc_issuer is None:
            return self
        url = urlparse(self.oidc_issuer)
        # Keys fetched over plain HTTP could be swapped on the way: only a provider on this machine may use it.
        if not (url.scheme == "https" or (url.scheme == "http" and url.hostname in {"127.0.0.1", "localhost", "::1"})):
            raise ValueError("ITSM_GATEWAY_OIDC_ISSUER must be an https:// URL")
        if not self.oidc_audience:
            raise ValueError("ITSM_GATEWAY_OIDC_AUDIENCE is required with ITSM_GATEWAY_OIDC_ISSUER "
                             "(this API's client id at the provider)")
        return self
