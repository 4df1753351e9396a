"""HTTP routes of identity (filled in by the identity work)."""

from fastapi import APIRouter

auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])
admin_router = APIRouter(prefix="/admin", tags=["admin"])
