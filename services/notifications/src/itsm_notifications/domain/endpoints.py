"""Endpoints: where slack, teams, webhook, pagerduty and jira deliveries go, as admins configure them.

Secrets (a webhook's signing secret, a PagerDuty routing key, a Jira token; the secret inbound calls are signed
with) are written, never read back: the API shows only whether one is set. A webhook always signs: one created
without a secret gets a Standard Webhooks secret, shown once in the answer to its creation.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import urlsplit

from itsm_kit.domain import Configuration, InvalidValue, choice


class EndpointKind(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    WEBHOOK = "webhook"
    PAGERDUTY = "pagerduty"
    JIRA = "jira"


MAX_URL = 2048
MAX_OPTIONS_BYTES = 8192  # per-kind settings (a Jira project, a severity map), not a place for data
MAX_SECRET = 1024
SECRET_PREFIX = "whsec_"  # Standard Webhooks: base64 of the key after it
ENDPOINT_FIELDS = frozenset({"name", "url", "secret", "inbound_secret", "options", "enabled"})
ENDPOINT_NOT_NULL = frozenset({"name", "url", "options", "enabled"})


def webhook_secret(key: bytes) -> str:
    """A Standard Webhooks secret from random key bytes (24 of them: 192 bits)."""
    return SECRET_PREFIX + base64.b64encode(key).decode()


def http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if len(value) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValue(f"an endpoint's url is an http(s) URL with a host (at most {MAX_URL} characters)")
    if parts.username or parts.password:
        raise InvalidValue("an endpoint's url carries no credentials: put them in its secret")
    return value


@dataclass
class Endpoint(Configuration):
    id: str
    name: str
    kind: EndpointKind
    url: str
    secret: str | None
    inbound_secret: str | None
    options: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = ENDPOINT_FIELDS
    NOT_NULL: ClassVar[frozenset[str]] = ENDPOINT_NOT_NULL

    @classmethod
    def create(cls, *, id: str, name: str, kind: str, url: str, secret: str | None, inbound_secret: str | None,
               options: Mapping[str, Any], enabled: bool, at: datetime, new_key: bytes) -> tuple[Endpoint, str | None]:
        """The endpoint, and the secret made for it (a webhook created without one), to be shown once."""
        kind = choice(EndpointKind, kind, "an endpoint's kind")
        made = webhook_secret(new_key) if kind is EndpointKind.WEBHOOK and not secret else None
        endpoint = cls(id=id, name=name.strip(), kind=kind, url=url, secret=secret or made,
                       inbound_secret=inbound_secret, options=dict(options), enabled=enabled, created_at=at,
                       updated_at=at)
        endpoint.url = http_url(url)
        endpoint._check()
        return endpoint, made

    def _normalised(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        changed = dict(changes)
        if "url" in changed:
            changed["url"] = http_url(changed["url"])
        if isinstance(changed.get("name"), str):
            changed["name"] = changed["name"].strip()
        return changed

    def _check(self) -> None:
        if not self.name:
            raise InvalidValue("an endpoint's name must not be blank")
        if self.kind is EndpointKind.WEBHOOK and not self.secret:
            raise InvalidValue("a webhook endpoint signs every call: its secret cannot be emptied")
        if self.secret is not None and self.kind is EndpointKind.WEBHOOK:
            signing_key(self.secret)
        for what, value in (("secret", self.secret), ("inbound_secret", self.inbound_secret)):
            if value is not None and not 1 <= len(value) <= MAX_SECRET:
                raise InvalidValue(f"an endpoint's {what} has 1 to {MAX_SECRET} characters")
        if not isinstance(self.options, dict):
            raise InvalidValue("an endpoint's options are a JSON object")
        if len(json.dumps(self.options)) > MAX_OPTIONS_BYTES:
            raise InvalidValue(f"an endpoint's options take at most {MAX_OPTIONS_BYTES} bytes as JSON")


def signing_key(secret: str) -> bytes:
    """The key of a Standard Webhooks secret ("whsec_" + base64); an InvalidValue for anything else."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        key = b""
    if not secret.startswith(SECRET_PREFIX) or len(key) < 16:
        raise InvalidValue("a webhook's secret is a Standard Webhooks secret: whsec_ and the base64 of 16 to 64 "
                           "random bytes")
    return key
