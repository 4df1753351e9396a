"""Job views for admins (the payload stays private: it may hold mail bodies)."""

from __future__ import annotations

import uuid
from typing import Any

from studyhall.core.schemas import Schema, UTCTimestamp
from studyhall.jobs.models import JobStatus


class JobOut(Schema):
    id: uuid.UUID
    kind: str
    status: JobStatus
    attempts: int
    max_attempts: int
    error: str | None
    progress: float
    progress_message: str | None
    result: dict[str, Any] | None
    created_at: UTCTimestamp
    run_after: UTCTimestamp
    started_at: UTCTimestamp | None
    finished_at: UTCTimestamp | None
