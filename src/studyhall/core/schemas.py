"""Shared response shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, PlainSerializer

T = TypeVar("T")


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Timestamps leave the API as ISO 8601 UTC with a trailing Z.
UTCTimestamp = Annotated[datetime, PlainSerializer(_iso_z, return_type=str, when_used="json")]


class Schema(BaseModel):
    """Base of response schemas: read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class InputSchema(BaseModel):
    """Base of request bodies: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """A page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


class Pagination(BaseModel):
    """?limit= and ?offset= of every list."""

    limit: int = 20
    offset: int = 0


def pagination(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Pagination:
    """Dependency reading the list parameters."""
    return Pagination(limit=limit, offset=offset)
