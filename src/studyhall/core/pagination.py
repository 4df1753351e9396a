"""Lists by page: the `?limit=&offset=` dependency, the count-and-page query, and `Page[T]`.

Every list route takes `page: PageParams`, its repository answers `await paginate(...)` and the
route (or service) returns `page_of(rows, total, page, ItemOut.model_validate)`. One place keeps
the bounds (1–100 items, offset up to 1,000,000) and the counting the same for every list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.schemas import Page

R = TypeVar("R")
T = TypeVar("T")


class Pagination(BaseModel):
    """?limit= and ?offset= of every list."""

    limit: int = 20
    offset: int = 0


async def pagination(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Pagination:
    """Dependency reading the list parameters (async: FastAPI runs a plain function in a
    thread)."""
    return Pagination(limit=limit, offset=offset)


PageParams = Annotated[Pagination, Depends(pagination)]


async def count(session: AsyncSession, query: Select[Any]) -> int:
    """How many rows a query returns (filters kept, ordering and paging ignored)."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(total or 0)


async def paginate(
    session: AsyncSession,
    query: Select[R],
    *,
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> tuple[list[R], int]:
    """One page of a single-entity query in a stable order, and the total without paging.

    `order_by` must end with a unique column (the id), or rows could repeat or vanish between
    pages when several share a sort value.
    """
    total = await count(session, query)
    rows = await session.scalars(query.order_by(*order_by).limit(limit).offset(offset))
    return list(rows), total


async def paginate_rows(
    session: AsyncSession,
    query: Select[Any],
    *,
    order_by: Sequence[Any],
    limit: int | None,
    offset: int,
    count_query: Select[Any] | None = None,
) -> tuple[list[Any], int]:
    """`paginate` for a query of several columns: the page's rows as tuples.

    `count_query` counts instead of `query` where the extra columns are costly (a correlated
    count per row) and do not change how many rows there are. `limit=None` reads every row
    (a whole-course view).
    """
    total = await count(session, query if count_query is None else count_query)
    result = await session.execute(query.order_by(*order_by).limit(limit).offset(offset))
    return list(result.all()), total


def window(limit: int, offset: int) -> Pagination:
    """The page a service was asked for, where it receives `limit` and `offset` apart."""
    return Pagination(limit=limit, offset=offset)


def page_of(
    rows: Iterable[R], total: int, page: Pagination, item: Callable[[R], T] | None = None
) -> Page[T]:
    """The `Page` answer: the rows (converted by `item`), the total and the window asked for."""
    items: list[Any] = list(rows) if item is None else [item(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


async def listed(
    page: Pagination,
    item: Callable[[R], T],
    lister: Callable[..., Awaitable[tuple[Sequence[R], int]]],
    session: AsyncSession,
    /,
    **filters: Any,
) -> Page[T]:
    """A list route's answer: the rows and total of `lister(session, **filters, limit=,
    offset=)` for the window asked for, each row converted by `item` (the first four are
    positional, so any name, `page` too, can be a filter)."""
    rows, total = await lister(session, **filters, limit=page.limit, offset=page.offset)
    return page_of(rows, total, page, item)


def slice_page(items: Sequence[T], page: Pagination) -> Page[T]:
    """A page of a list already in memory (a configured catalogue, not a table)."""
    return page_of(items[page.offset : page.offset + page.limit], len(items), page)
