"""dispatch (issue 17)."""

from fastapi import APIRouter

router = APIRouter(tags=["dispatch"])
