from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator

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
    upstream_timeout_seconds: float = 10.0
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
