"""Query pieces every admin list repeats: optional equality filters and the newest-first order.

query = where_given(select(Workspace), (Workspace.status, status), (Workspace.user_id, user))
return await paginate(session, query, order_by=newest_first(Workspace), limit=..., offset=...)
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

R = TypeVar("R")


def where_given(query: Select[R], *conditions: tuple[Any, object]) -> Select[R]:
    """`query` narrowed to `column == value` for each (column, value) whose value is not None."""
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    return query


def newest_first(model: Any) -> list[Any]:
    """`paginate`'s order for rows of `model` created last first (the id breaks ties)."""
    return [model.created_at.desc(), model.id.desc()]
