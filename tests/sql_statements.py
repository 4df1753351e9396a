"""Count the SQL statements a piece of work sends: a deterministic measure of its database cost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# Transaction control is not a statement of the work itself (and on PostgreSQL's autocommit
# reads it is not even sent), so it is left out of the count.
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements the engine sends while inside, BEGIN/COMMIT left out, one line each."""
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        flat = " ".join(statement.split())
        if not flat.upper().startswith(_TRANSACTION_CONTROL):
            seen.append(flat)

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "before_cursor_execute", on_execute)


def listing(statements: list[str]) -> str:
    """The statements, shortened, one per line (for an assertion's message)."""
    return "\n".join(f"  {s[:140]}" for s in statements)
