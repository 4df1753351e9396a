"""Request and response shapes of the knowledge API."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, HttpUrl, UrlConstraints, field_validator

from studyhall.core.schemas import NOT_BLANK, InputSchema, Omitted, Schema, UTCTimestamp
from studyhall.jobs.schemas import JobOut
from studyhall.knowledge.models import DocumentStatus, ReferenceStatus, RunStatus

_LEVEL = Field(default=None, max_length=64, description="Grade or level, e.g. `grade 5`")
_SUBJECT = Field(default=None, max_length=100, description="Subject, e.g. `mathematics`")
_LANGUAGE = Field(default=None, min_length=2, max_length=16, description="Language code, e.g. `es`")


class DocumentOut(Schema):
    id: uuid.UUID
    course_id: uuid.UUID | None = Field(description="None for shared-library documents")
    is_library: bool
    title: str
    filename: str | None
    kind: str = Field(description="pdf, docx, html, markdown or text (detected from the content)")
    size_bytes: int
    status: DocumentStatus
    error: str | None
    page_count: int | None
    chunk_count: int
    pages_without_text: list[int] = Field(
        description="Physical pages left without text (no text layer and no OCR available)"
    )
    ocr_pages: list[int] = Field(description="Physical pages whose text comes from OCR")
    has_pages_without_text: bool
    first_page_label: str | None
    last_page_label: str | None
    level: str | None
    subject: str | None
    language: str | None
    embedding_model: str | None
    job_id: uuid.UUID | None
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    processed_at: UTCTimestamp | None


class UploadAccepted(Schema):
    """202 answer of an upload: the document and the job that will ingest it."""

    document: DocumentOut
    job: JobOut


class DuplicateDocumentOut(Schema):
    """409 answer of an upload whose bytes are already a document of the course (or library)."""

    detail: str
    code: str = Field(description="`duplicate_document`")
    document: DocumentOut = Field(description="The document that already holds these bytes")


class CourseUploadFields(InputSchema):
    """Text fields of a course upload form (next to `file`)."""

    title: str | None = Field(default=None, max_length=300)
    language: str | None = _LANGUAGE


class LibraryUploadFields(InputSchema):
    """Text fields of a library upload form (next to `file`)."""

    title: str | None = Field(default=None, max_length=300)
    level: str | None = _LEVEL
    subject: str = Field(min_length=1, max_length=100, description="Subject, e.g. `mathematics`")
    language: str = Field(min_length=2, max_length=16, description="Language code, e.g. `es`")


class DocumentUpdate(InputSchema):
    title: Annotated[str, Field(min_length=1, max_length=300, pattern=NOT_BLANK)] | Omitted = None
    level: str | None = _LEVEL
    subject: str | None = _SUBJECT
    language: str | None = _LANGUAGE


class ChunkOut(Schema):
    id: uuid.UUID
    document_id: uuid.UUID
    position: int
    page: int | None
    page_label: str | None
    heading: str | None
    text: str


class SearchRequest(InputSchema):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=5, ge=1, le=50)


class SearchHit(Schema):
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    document_title: str
    page: int | None = Field(description="Physical page of the file (1-based), None without pages")
    page_label: str | None = Field(
        description="The label printed on that page (`vii`, `7-45`), when the document has one"
    )
    heading: str | None = Field(description="The slide title or section heading over the chunk")
    text: str = Field(description="The whole chunk that was found")
    excerpt: str = Field(
        description="The part of the chunk that matches the query, for display; the matching "
        "words are marked `**like this**`, a cut is marked `…`"
    )
    score: float


class CourseLibrary(InputSchema):
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)

    @field_validator("document_ids")
    @classmethod
    def _unique(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(value))


class CourseLibraryOut(Schema):
    document_ids: list[uuid.UUID]


class SubjectOut(Schema):
    subject: str
    textbook_count: int
    levels: list[str]
    languages: list[str]


class TextbookOut(Schema):
    id: uuid.UUID
    title: str
    level: str | None
    subject: str | None
    language: str | None
    page_count: int | None
    first_page_label: str | None
    last_page_label: str | None
    chunk_count: int
    created_at: UTCTimestamp


class SectionOut(Schema):
    """A heading of a textbook and the pages it spans."""

    heading: str | None
    first_page: int | None
    last_page: int | None
    first_page_label: str | None
    last_page_label: str | None


class TextbookDetail(TextbookOut):
    sections: list[SectionOut]
    pages_without_text: list[int]


class SourceCreate(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    # The column holds 2000 characters; normalising may add a trailing slash.
    url: Annotated[HttpUrl, UrlConstraints(max_length=1990)] = Field(
        description="The portal's index page (http or https)"
    )
    level: str | None = _LEVEL
    subject: str | None = _SUBJECT
    language: str | None = _LANGUAGE
    max_depth: int | None = Field(default=None, ge=0, le=10)


class SourceOut(Schema):
    id: uuid.UUID
    name: str
    url: str
    level: str | None
    subject: str | None
    language: str | None
    max_depth: int | None
    last_synced_at: UTCTimestamp | None
    created_at: UTCTimestamp


class SkippedLink(Schema):
    url: str
    reason: str


class SyncRunOut(Schema):
    id: uuid.UUID
    source_id: uuid.UUID
    status: RunStatus
    job_id: uuid.UUID | None
    found_count: int
    new_count: int
    pages_visited: int
    skipped: list[SkippedLink]
    error: str | None
    created_at: UTCTimestamp
    started_at: UTCTimestamp | None
    finished_at: UTCTimestamp | None


class ReferenceOut(Schema):
    id: uuid.UUID
    source_id: uuid.UUID
    url: str
    found_on: str | None
    title: str
    level: str | None
    subject: str | None
    language: str | None
    status: ReferenceStatus
    error: str | None
    document_id: uuid.UUID | None
    last_seen_at: UTCTimestamp
    created_at: UTCTimestamp


class PublicSourceOut(Schema):
    """A source as anyone may see it: what it covers, not how it is crawled."""

    id: uuid.UUID
    name: str
    level: str | None
    subject: str | None
    language: str | None
    last_synced_at: UTCTimestamp | None


class PublicSyncRunOut(Schema):
    """A crawl's outcome in figures (its skipped links and error stay with the admins)."""

    id: uuid.UUID
    source_id: uuid.UUID
    status: RunStatus
    found_count: int
    new_count: int
    created_at: UTCTimestamp
    started_at: UTCTimestamp | None
    finished_at: UTCTimestamp | None


class PublicReferenceOut(Schema):
    """A discovered curriculum file (a public portal's PDF) and whether it is in the library."""

    id: uuid.UUID
    source_id: uuid.UUID
    url: str
    title: str
    level: str | None
    subject: str | None
    language: str | None
    status: ReferenceStatus
    document_id: uuid.UUID | None
    last_seen_at: UTCTimestamp
    created_at: UTCTimestamp


class ReferenceIngestAccepted(Schema):
    reference: ReferenceOut
    job: JobOut


class KnowledgeStats(Schema):
    documents: int
    chunks: int
