"""A periodic job's sweep, in batches: each batch a short unit of work of its own.

Work that may touch many rows (expiring what is overdue, say) is done a bounded batch at a time,
each committed before the next starts, so a long sweep never holds locks for long and a failure
keeps what earlier batches did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.db import Database


async def sweep(
    db: Database, batch: Callable[[AsyncSession], Awaitable[int]], *, full: int | None = None
) -> int:
    """Run `batch` (which returns how much it did) until one finds nothing left, or fewer than
    `full` things when a full batch's size is known; the total done."""
    total = 0
    while True:
        async with db.session() as session:
            done = await batch(session)
        total += done
        if done == 0 or (full is not None and done < full):
            return total
