"""HTTP routes of the assessments domain."""

from fastapi import APIRouter

router = APIRouter(tags=["assessments"])
