"""Subscriptions and message templates, with preview (issue 16: pipeline helper)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["subscriptions"])
