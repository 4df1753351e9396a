"""`studyhall ingest`: add files to a course or to the shared library and ingest them right away.

The CLI command (in cli.py) calls `ingest_paths`, which runs the same pipeline as the
`knowledge.ingest` job in this process, one file after another, reporting progress per file.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.core.errors import AppError
from studyhall.core.storage import LocalStorage
from studyhall.courses import service as courses
from studyhall.knowledge.jobs import fail_document, run_ingestion
from studyhall.knowledge.service import NewDocument, create_document

# Extensions picked up when a directory is given (a file named explicitly is always tried: its
# type is decided from its content).
DIRECTORY_SUFFIXES = frozenset({".pdf", ".docx", ".md", ".markdown", ".txt", ".html", ".htm"})

ProgressCallback = Callable[[Path, float, str | None], None]


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one file."""

    path: Path
    document_id: uuid.UUID | None
    status: str  # ready, failed, skipped
    page_count: int | None = None
    chunk_count: int = 0
    pages_without_text: tuple[int, ...] = ()
    error: str | None = None


class IngestUsageError(ValueError):
    """Wrong arguments (no target, both targets, unknown course, missing library metadata)."""


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given, and the supported files inside given directories (sorted, recursive)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and p.suffix.lower() in DIRECTORY_SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        else:
            files.append(path)
    return files


async def _course_id(db: Database, code: str) -> uuid.UUID:
    async with db.session(write=False) as session:
        course = await courses.find_course_by_code(session, code)
    if course is None:
        raise IngestUsageError(f"no course with code {code!r}")
    return course.id


async def ingest_paths(
    settings: Settings,
    paths: Sequence[Path],
    *,
    course_code: str | None = None,
    library: bool = False,
    subject: str | None = None,
    level: str | None = None,
    language: str | None = None,
    progress: ProgressCallback | None = None,
) -> list[IngestOutcome]:
    """Store and ingest files into a course (by code) or the library; one outcome per file."""
    if bool(course_code) == bool(library):
        raise IngestUsageError("give either a course code or --library")
    if library and not (subject and language):
        raise IngestUsageError("library documents need --subject and --language")
    assert settings.database_url is not None
    db = Database(settings.database_url, pool_size=2)
    storage = LocalStorage(settings.data_dir / "files")
    outcomes: list[IngestOutcome] = []
    try:
        course_id = await _course_id(db, course_code) if course_code else None
        for path in expand_paths(paths):
            outcomes.append(
                await _ingest_one(
                    db,
                    settings,
                    storage,
                    path,
                    course_id=course_id,
                    new=NewDocument(
                        data=b"",
                        filename=path.name,
                        level=level,
                        subject=subject,
                        language=language,
                    ),
                    progress=progress,
                )
            )
    finally:
        await db.dispose()
    return outcomes


async def _ingest_one(
    db: Database,
    settings: Settings,
    storage: LocalStorage,
    path: Path,
    *,
    course_id: uuid.UUID | None,
    new: NewDocument,
    progress: ProgressCallback | None,
) -> IngestOutcome:
    def report(fraction: float, message: str | None) -> None:
        if progress is not None:
            progress(path, fraction, message)

    async def job_progress(fraction: float, message: str | None) -> None:
        report(fraction, message)

    limit = settings.knowledge.max_upload_bytes
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
        data = await asyncio.to_thread(path.read_bytes) if size <= limit else b""
    except OSError as exc:
        report(1.0, "skipped")
        return IngestOutcome(path, None, "skipped", error=f"cannot read: {exc.strerror}")
    if size > limit:
        report(1.0, "skipped")
        return IngestOutcome(path, None, "skipped", error=f"larger than the {limit} byte limit")
    report(0.0, "storing")
    try:
        async with db.session() as session:
            document, _ = await create_document(
                session,
                storage=storage,
                actor_id=None,
                course_id=course_id,
                new=replace(new, data=data),
                queue=False,
            )
            document_id = document.id
    except AppError as exc:
        report(1.0, "skipped")
        return IngestOutcome(path, None, "skipped", error=exc.message)
    try:
        summary = await run_ingestion(
            db, settings, storage, document_id=document_id, progress=job_progress
        )
    except Exception as exc:  # reported per file; the next file still runs
        error = f"{type(exc).__name__}: {exc}"
        await fail_document(db, document_id, error)
        report(1.0, "failed")
        return IngestOutcome(path, document_id, "failed", error=error)
    if summary.get("document_status") != "ready":
        report(1.0, "failed")
        return IngestOutcome(path, document_id, "failed", error=str(summary.get("error")))
    return IngestOutcome(
        path,
        document_id,
        "ready",
        page_count=int(summary["pages"]),
        chunk_count=int(summary["chunks"]),
        pages_without_text=tuple(summary["pages_without_text"]),
    )
