"""People and groups (issue 16: directory helper)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["directory"])
