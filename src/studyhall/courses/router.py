"""HTTP routes of the courses domain."""

from fastapi import APIRouter

router = APIRouter(tags=["courses"])
