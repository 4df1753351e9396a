"""HTTP routes of the billing domain."""

from fastapi import APIRouter

router = APIRouter(tags=["billing"])
