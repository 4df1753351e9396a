"""Which ledger entries a listing shows: one value from the query string to the SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from studyhall.billing.models import Direction, EntryType


@dataclass(frozen=True)
class LedgerFilter:
    """Entries of one user, of a direction, of a type, in [since, until); None: any."""

    user_id: uuid.UUID | None = None
    direction: Direction | None = None
    entry_type: EntryType | None = None
    since: datetime | None = None
    until: datetime | None = None
