"""Transaction-scoped locks for "at most N" rules (count, then insert).

Counting rows and inserting one is a race on PostgreSQL under READ COMMITTED: twenty parallel
requests all count zero and all insert. `serialize(session, scope, *ids)` takes an advisory lock
(`pg_advisory_xact_lock`) on a key derived from the scope and ids, held until the transaction
ends, so the second request counts after the first one committed. No row needs to exist yet,
which is what a row lock (FOR UPDATE) cannot give for "the attempts of this user on this quiz".

SQLite needs nothing: our write transactions there start with BEGIN IMMEDIATE, which already
serializes every writer of the database.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["lock_key", "serialize"]


def lock_key(scope: str, *ids: uuid.UUID | str | int) -> int:
    """A signed 64-bit key (PostgreSQL's bigint) for the scope and ids."""
    material = "\x1f".join([scope, *(str(part) for part in ids)]).encode()
    return int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big", signed=True)


async def serialize(session: AsyncSession, scope: str, *ids: uuid.UUID | str | int) -> None:
    """Hold a lock on (scope, ids) until the session's transaction commits or rolls back."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(scope, *ids)}
        )
