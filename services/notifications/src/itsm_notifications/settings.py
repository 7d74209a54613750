from pydantic import Field, SecretStr

from itsm_kit.settings import ServiceSettings, service_config


class NotificationsSettings(ServiceSettings):
    model_config = service_config("notifications")
    service = "notifications"

    port: int = 8006
    # Links in messages point here (the frontend or the gateway), e.g. {portal_url}/incidents/{id}.
    portal_url: str = "http://127.0.0.1:8000"

    # E-mail: one SMTP relay for the platform. STARTTLS upgrades a plain connection (port 587); implicit TLS
    # (port 465) starts encrypted. Credentials only over either, unless smtp_allow_plain_auth (a loopback sink).
    smtp_host: str | None = None  # unset: e-mail deliveries wait (and show why) until it is configured
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_implicit_tls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "ITSM <itsm@localhost>"
    smtp_timeout_seconds: float = Field(default=10, gt=0)

    # Delivery (itsm_notifications.dispatcher): how often due deliveries are looked for, how many at once.
    dispatch_poll_seconds: float = Field(default=0.2, gt=0)
    dispatch_batch_size: int = Field(default=200, ge=1, le=5000)
    # Sends in flight in this replica, and of those through one endpoint (or the SMTP relay), across replicas. One
    # receiver's share bounds what a slow one holds, and what a busy one gets: 8 gave a receiver 170 deliveries/s
    # here, 32 the 200/s of the benchmark with p50 0.26 s (bench/notifications.py).
    dispatch_concurrency: int = Field(default=128, ge=1, le=1000)
    endpoint_concurrency: int = Field(default=32, ge=1, le=100)
    send_timeout_seconds: float = Field(default=10, gt=0)  # one HTTP attempt, connect to last byte
    # A claimed delivery not finished within this (the replica died mid-send) is taken again by any replica.
    lease_seconds: float = Field(default=60, gt=0)
    # Retries: exponential backoff with full jitter from retry_base_seconds, capped; Retry-After honoured up to
    # retry_after_max_seconds; after max_attempts failed attempts a delivery is dead (visible, redrivable).
    retry_base_seconds: float = Field(default=2, gt=0)
    retry_max_seconds: float = Field(default=600, gt=0)
    retry_after_max_seconds: float = Field(default=3600, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=50)
    # Circuit breaker per endpoint: open after this many failures in a row; closed again after a probe succeeds.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_open_seconds: float = Field(default=30, gt=0)
    breaker_open_max_seconds: float = Field(default=600, gt=0)

    # Low-urgency notifications are batched per recipient and sent as one digest this often (and held through
    # the recipient's quiet hours, outside their working hours).
    digest_interval_seconds: float = Field(default=3600, gt=0)

    # Finished deliveries (sent, skipped, digested, dead), their attempts and the connector webhooks taken are kept
    # this long for the delivery log, then deleted by a periodic job, a batch at a time.
    delivery_retention_days: float = Field(default=90, ge=1)
    delivery_prune_interval_seconds: float = Field(default=3600, gt=0)
    delivery_prune_batch_size: int = Field(default=5000, ge=1)

    # Optional import of people and groups from the identity provider's SCIM 2.0 endpoint.
    scim_url: str | None = None
    scim_token: SecretStr | None = None
    scim_import_interval_seconds: float | None = None  # unset: only on demand (POST /directory/scim-import)
    # Bounds of one import (directory helper): a page's size, how many pages and resources at most (an import that
    # would need more is refused whole, never half-applied), and one HTTP call's timeout.
    scim_page_size: int = Field(default=100, ge=1, le=1000)
    scim_max_pages: int = Field(default=200, ge=1, le=10_000)
    scim_max_resources: int = Field(default=20_000, ge=1, le=1_000_000)
    scim_timeout_seconds: float = Field(default=10, gt=0, le=300)
