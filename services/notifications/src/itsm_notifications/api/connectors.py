"""Inbound webhooks of connected tools: PagerDuty v3, Jira (issue 16: connectors helper)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["connectors"])
