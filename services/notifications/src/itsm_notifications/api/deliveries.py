"""Endpoints, the delivery log and redrive (issue 16: delivery helper)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["deliveries"])
