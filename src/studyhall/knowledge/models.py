"""Documents, their chunks and vectors, index versions, library links and curriculum sources."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.core.clock import utcnow
from studyhall.core.models import Base, IdMixin, TimestampMixin

# A failure's message is kept to this many characters (an exception's text can be long).
ERROR_CHARS = 2000


class DocumentStatus(enum.StrEnum):
    queued = "queued"
    processing = "processing"
    ready = "ready"
    failed = "failed"


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class ReferenceStatus(enum.StrEnum):
    new = "new"
    queued = "queued"
    ingested = "ingested"
    failed = "failed"


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, validate_strings=True)


class Document(IdMixin, TimestampMixin, Base):
    """An uploaded file: a course's own (course_id set) or the shared library's (course_id None)."""

    __tablename__ = "knowledge_documents"
    __table_args__ = (Index("ix_knowledge_documents_library", "course_id", "subject", "level"),)

    # Soft link to courses (no cross-domain foreign key); None = shared curriculum library.
    course_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(300))
    # The client's file name, for display only; the stored file has a generated key.
    filename: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[DocumentStatus] = mapped_column(
        _enum(DocumentStatus), default=DocumentStatus.queued, index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    page_count: Mapped[int | None]
    chunk_count: Mapped[int] = mapped_column(default=0)
    # Physical page numbers left without text (no text layer and no OCR), and those OCR'd.
    pages_without_text: Mapped[list[int]] = mapped_column(JSON, default=list)
    ocr_pages: Mapped[list[int]] = mapped_column(JSON, default=list)
    first_page_label: Mapped[str | None] = mapped_column(String(32))
    last_page_label: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(16))
    embedding_model: Mapped[str | None] = mapped_column(String(200), index=True)
    embedding_dim: Mapped[int | None]
    # Soft links: who uploaded it, its latest ingestion job, the crawled reference it came from.
    uploaded_by: Mapped[uuid.UUID | None]
    job_id: Mapped[uuid.UUID | None]
    reference_id: Mapped[uuid.UUID | None]
    processed_at: Mapped[datetime | None]

    @property
    def is_library(self) -> bool:
        """Whether the document belongs to the shared library rather than a course."""
        return self.course_id is None

    @property
    def has_pages_without_text(self) -> bool:
        """Whether some pages yielded no text (scanned pages without OCR)."""
        return bool(self.pages_without_text)


class Chunk(IdMixin, Base):
    """A passage of a document with its page, printed label, heading, position and vector."""

    __tablename__ = "knowledge_chunks"
    # One row per (document, position): a re-ingestion can replace chunks, never duplicate them.
    __table_args__ = (UniqueConstraint("document_id", "position"),)

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_documents.id", ondelete="CASCADE")
    )
    # Copied from the document so a collection's chunks load with one indexed filter.
    course_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    position: Mapped[int]
    page: Mapped[int | None]
    page_label: Mapped[str | None] = mapped_column(String(32))
    heading: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    # float32 little-endian bytes; the model and dimension travel with every vector.
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding_dim: Mapped[int]


class Collection(Base):
    """The index version of a collection ("library" or "course:<id>"), bumped on every change.

    Every api replica compares it with the version of its in-memory index and rebuilds when it
    moved, so all replicas answer the same right after an upload or a delete.
    """

    __tablename__ = "knowledge_collections"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    index_version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CourseLibraryLink(Base):
    """A shared-library document a course's search and tutor also use."""

    __tablename__ = "knowledge_course_library"

    course_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_documents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Source(IdMixin, TimestampMixin, Base):
    """A curriculum portal's index page that `sync` crawls for PDF links."""

    __tablename__ = "knowledge_sources"

    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    # Metadata given to every reference found here (wins over what the URL suggests).
    level: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(16))
    max_depth: Mapped[int | None]
    created_by: Mapped[uuid.UUID | None]
    last_synced_at: Mapped[datetime | None]


class SyncRun(IdMixin, Base):
    """One crawl of a source."""

    __tablename__ = "knowledge_sync_runs"

    source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_sources.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus), default=RunStatus.queued)
    job_id: Mapped[uuid.UUID | None]
    found_count: Mapped[int] = mapped_column(default=0)
    new_count: Mapped[int] = mapped_column(default=0)
    pages_visited: Mapped[int] = mapped_column(default=0)
    # Links skipped and why (robots.txt, refused address, limits), for the admin to read.
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    def fail(self, error: str) -> None:
        """End the run as failed, with why."""
        self.status = RunStatus.failed
        self.error = error[:ERROR_CHARS]
        self.finished_at = utcnow()


class Reference(IdMixin, TimestampMixin, Base):
    """A PDF discovered by a crawl, with its metadata; `ingest` makes it a library document."""

    __tablename__ = "knowledge_references"
    __table_args__ = (UniqueConstraint("source_id", "url"),)

    source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_sources.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    found_on: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(String(300))
    level: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[ReferenceStatus] = mapped_column(
        _enum(ReferenceStatus), default=ReferenceStatus.new, index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    document_id: Mapped[uuid.UUID | None]
    first_run_id: Mapped[uuid.UUID | None]
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    def fail(self, error: str) -> None:
        """Mark the reference failed (not ingested), with why."""
        self.status = ReferenceStatus.failed
        self.error = error[:ERROR_CHARS]
