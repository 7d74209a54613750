"""work orders (issue 17)."""

from fastapi import APIRouter

router = APIRouter(tags=["work-orders"])
