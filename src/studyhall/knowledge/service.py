"""Business rules of documents, retrieval, the shared library and curriculum sources."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record
from studyhall.config import Settings
from studyhall.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    UnsupportedMediaType,
)
from studyhall.core.ids import new_id
from studyhall.core.storage import LocalStorage
from studyhall.courses import service as courses
from studyhall.identity.models import Role, User
from studyhall.jobs import service as jobs_service
from studyhall.jobs.files import delete_files_later
from studyhall.jobs.models import Job
from studyhall.jobs.service import enqueue
from studyhall.knowledge import repository
from studyhall.knowledge.extraction import DocumentKind, UnsupportedType, sniff
from studyhall.knowledge.models import (
    Chunk,
    Document,
    DocumentStatus,
    Reference,
    ReferenceStatus,
    RunStatus,
    Source,
    SyncRun,
)
from studyhall.knowledge.repository import LibraryFilter
from studyhall.knowledge.retrieval import Passage, chunk_keys_for, course_key, search
from studyhall.knowledge.schemas import (
    DocumentUpdate,
    KnowledgeStats,
    SectionOut,
    SourceCreate,
    SubjectOut,
    TextbookDetail,
    TextbookOut,
)
from studyhall.tutor.leakcheck import guard_for

__all__ = ["DuplicateDocument", "Passage", "knowledge_stats", "retrieve"]

INGEST = "knowledge.ingest"
REINDEX = "knowledge.reindex"
CRAWL = "knowledge.crawl"
INGEST_REFERENCE = "knowledge.ingest_reference"
DELETE_FILES = "knowledge.delete_files"

_SUFFIX = {
    DocumentKind.PDF: ".pdf",
    DocumentKind.DOCX: ".docx",
    DocumentKind.HTML: ".html",
    DocumentKind.MARKDOWN: ".md",
    DocumentKind.TEXT: ".txt",
}


class DocumentNotFound(NotFound):
    code = "document_not_found"

    def __init__(self, message: str = "Document not found") -> None:
        super().__init__(message)


class DuplicateDocument(Conflict):
    """The same bytes are already a document of this course (or of the library)."""

    code = "duplicate_document"

    def __init__(self, existing: Document) -> None:
        super().__init__(
            f"This file is already uploaded as “{existing.title}”; "
            "upload it with `?replace=true` to replace that document"
        )
        self.existing = existing


# ---------------------------------------------------------------------------- for other domains


# Best passages for a query: a course's documents and linked library, or (None) the library.
# Other domains search through here; the caller has already checked that its user may read the
# course.
retrieve = search


@dataclass(frozen=True)
class ShownPassage:
    """A passage as a reader may see it: `withheld` when it gives away a quiz answer."""

    passage: Passage
    withheld: bool


async def search_for_reader(
    session: AsyncSession,
    *,
    user: User,
    course_id: uuid.UUID,
    query: str,
    k: int,
    settings: Settings,
) -> list[ShownPassage]:
    """A course search as its reader may see it: for a student, the chunks that give away the
    answer of a quiz they have not passed are withheld, as the tutor withholds them (the
    same guard, on the chunk and the query)."""
    passages = await retrieve(session, course_id=course_id, query=query, k=k, settings=settings)
    guard = await guard_for(session, user=user, course_id=course_id)
    return [ShownPassage(p, guard.reveals(p.text, question=query)) for p in passages]


async def knowledge_stats(session: AsyncSession) -> KnowledgeStats:
    """Documents and chunks platform-wide (admin stats)."""
    documents, chunks = await repository.counts(session)
    return KnowledgeStats(documents=documents, chunks=chunks)


# ---------------------------------------------------------------------------- audit


async def _audit(
    session: AsyncSession,
    event: str,
    actor_id: uuid.UUID | None,
    target: tuple[str, uuid.UUID],
    **details: Any,
) -> None:
    """Record the knowledge event `knowledge.<event>` about a (type, id) target in the audit log."""
    target_type, target_id = target
    await record(
        session,
        action=f"knowledge.{event}",
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )


# ---------------------------------------------------------------------------- access


async def readable_document(
    session: AsyncSession, *, user: User, document_id: uuid.UUID
) -> Document:
    """A document the user may read: its course's readers, or anyone for library documents."""
    document = await repository.get_document(session, document_id)
    if document is None:
        raise DocumentNotFound()
    if document.course_id is not None:
        course = await courses.visible_course(session, user=user, course_id=document.course_id)
        if course is None:
            raise DocumentNotFound()
        await courses.require_reader(session, user=user, course=course)
    return document


async def managed_document(
    session: AsyncSession, *, user: User, document_id: uuid.UUID
) -> Document:
    """A document the user may change: its course's owner or an admin; library: admins."""
    document = await readable_document(session, user=user, document_id=document_id)
    if user.role == Role.admin:
        return document
    if document.course_id is not None and await courses.can_manage_course(
        session, user=user, course_id=document.course_id
    ):
        return document
    # Readers (enrolled students, anyone for the library) may know it exists: 403, not 404.
    raise Forbidden("Only the course's teacher or an admin may do this")


# ---------------------------------------------------------------------------- uploads


def clean_filename(name: str | None) -> str | None:
    """The last path component of a client's file name, printable, at most 255 characters."""
    if not name:
        return None
    base = PureWindowsPath(PurePosixPath(name).name).name
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if ch.isprintable())
    return base.strip()[:255] or None


def _title_from(filename: str | None) -> str:
    if not filename:
        return "Untitled document"
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    words = re.sub(r"[\s_]+", " ", stem).strip()
    return words[:300] or "Untitled document"


def download_name(document: Document) -> str:
    """The name a downloaded file gets: the uploaded name, else the title with the kind's suffix."""
    if document.filename:
        return document.filename
    suffix = _SUFFIX.get(DocumentKind(document.kind), "") if document.kind in _KINDS else ""
    stem = re.sub(r"[^\w\- ]+", "", document.title).strip() or "document"
    return stem[:200] + suffix


_KINDS = {kind.value for kind in DocumentKind}


@dataclass(frozen=True)
class NewDocument:
    """What an upload or a crawl provides for a new document."""

    data: bytes
    filename: str | None
    title: str | None = None
    level: str | None = None
    subject: str | None = None
    language: str | None = None
    reference_id: uuid.UUID | None = None

    @classmethod
    def of_reference(cls, reference: Reference, data: bytes) -> NewDocument:
        """A discovered reference's download, named after the file its URL names, and described
        by what the crawl found about it."""
        return cls(
            data=data,
            filename=reference.url.rsplit("/", 1)[-1].split("?", 1)[0] or "document.pdf",
            title=reference.title,
            level=reference.level,
            subject=reference.subject,
            language=reference.language,
            reference_id=reference.id,
        )


async def create_document(
    session: AsyncSession,
    *,
    storage: LocalStorage,
    actor_id: uuid.UUID | None,
    course_id: uuid.UUID | None,
    new: NewDocument,
    queue: bool = True,
    duplicates: Literal["allow", "refuse", "replace"] = "allow",
) -> tuple[Document, Job | None]:
    """Check the content's type, store the file under a generated name, queue its ingestion.

    `duplicates` says what happens when the scope already holds the same bytes (by SHA-256):
    uploads refuse (409 `duplicate_document` naming the existing document) or, asked
    explicitly, replace it (the old document, its chunks and file go); the same passage twice
    in a course would otherwise be retrieved, and cited, twice.
    """
    filename = clean_filename(new.filename)
    try:
        kind = sniff(new.data, filename)
    except UnsupportedType as exc:
        raise UnsupportedMediaType(
            f"Unsupported document: {exc}. Upload a PDF, DOCX, Markdown, HTML or plain text file.",
        ) from exc
    digest = hashlib.sha256(new.data).hexdigest()
    if duplicates != "allow":
        same = await repository.same_content(session, course_id=course_id, sha256=digest)
        if same and duplicates == "refuse":
            raise DuplicateDocument(same[0])
        for old in same:
            await _remove_document(session, actor_id=actor_id, document=old, replaced=True)
    key = storage.new_key("documents", _SUFFIX[kind])
    await storage.put(key, new.data)
    document = Document(
        course_id=course_id,
        title=(new.title or "").strip()[:300] or _title_from(filename),
        filename=filename,
        kind=kind.value,
        storage_key=key,
        size_bytes=len(new.data),
        sha256=digest,
        status=DocumentStatus.queued,
        chunk_count=0,
        pages_without_text=[],
        ocr_pages=[],
        level=new.level,
        subject=new.subject,
        language=new.language,
        uploaded_by=actor_id,
        reference_id=new.reference_id,
    )
    session.add(document)
    await session.flush()
    job = None
    if queue:
        job = await enqueue(session, kind=INGEST, payload={"document_id": str(document.id)})
        document.job_id = job.id
    await _audit(
        session,
        "document_uploaded",
        actor_id,
        ("document", document.id),
        course_id=str(course_id) if course_id else None,
        kind=kind.value,
    )
    return document, job


async def enqueue_once(session: AsyncSession, *, kind: str, key: str, target: uuid.UUID) -> Job:
    """Queue the job `kind` for one object (`{key: target}`), unless one for it is pending:
    then that job is answered."""
    return await enqueue(
        session, kind=kind, payload={key: str(target)}, dedupe_key=f"{kind}:{target}"
    )


async def reingest(session: AsyncSession, *, document: Document) -> Job:
    """Queue a fresh ingestion of a stored document (chunks are replaced when it finishes)."""
    job = await enqueue_once(session, kind=INGEST, key="document_id", target=document.id)
    document.job_id = job.id
    if jobs_service.is_waiting(job):  # a run already in progress keeps its status
        document.status = DocumentStatus.queued
    return job


# ---------------------------------------------------------------------------- documents


# The listings below need no rule beyond their query: the service hands out the repository's
# (routers and other domains reach SQL through the service only).
list_documents = repository.list_documents


async def update_document(
    session: AsyncSession, *, actor: User, document: Document, data: DocumentUpdate
) -> Document:
    """Change a document's title or library metadata."""
    changes = data.model_dump(exclude_unset=True)
    if "title" in changes and not (changes["title"] or "").strip():
        raise Unprocessable("title cannot be empty")
    for field, value in changes.items():
        setattr(document, field, value.strip() if isinstance(value, str) else value)
    await session.flush()
    await _audit(
        session, "document_updated", actor.id, ("document", document.id), fields=sorted(changes)
    )
    return document


async def delete_document(session: AsyncSession, *, actor: User, document: Document) -> None:
    """Delete a document, its chunks and vectors; the stored file goes once this commits."""
    await _remove_document(session, actor_id=actor.id, document=document)


async def _remove_document(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    document: Document,
    replaced: bool = False,
) -> None:
    await repository.forget_document(session, document.id)
    await repository.delete_document(session, document.id)
    await repository.bump_version(session, chunk_keys_for(document.course_id, document.id))
    await delete_files_later(session, kind=DELETE_FILES, keys=[document.storage_key])
    details: dict[str, Any] = {"course_id": str(document.course_id) if document.course_id else None}
    if replaced:
        details["replaced_by_upload"] = True
    await _audit(session, "document_deleted", actor_id, ("document", document.id), **details)


async def list_chunks(
    session: AsyncSession, *, document: Document, page: int | None, limit: int, offset: int
) -> tuple[list[Chunk], int]:
    """A document's chunks in reading order."""
    return await repository.list_chunks(
        session, document_id=document.id, page=page, limit=limit, offset=offset
    )


async def delete_course_data(session: AsyncSession, *, course_id: uuid.UUID) -> None:
    """A deleted course takes its documents, chunks, vectors and library links along
    (registered by `studyhall.wiring`)."""
    documents = await repository.course_documents(session, course_id)
    await repository.delete_course_data(session, course_id)
    await delete_files_later(session, kind=DELETE_FILES, keys=[key for _, key in documents])


# ---------------------------------------------------------------------------- course library


async def course_library(session: AsyncSession, *, course_id: uuid.UUID) -> list[uuid.UUID]:
    """The library documents linked to a course."""
    return await repository.linked_documents(session, course_id)


async def set_course_library(
    session: AsyncSession, *, actor: User, course_id: uuid.UUID, document_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Link exactly these shared-library documents to the course (422 for any other id)."""
    existing = await repository.existing_library_ids(session, document_ids)
    unknown = [str(d) for d in document_ids if d not in existing]
    if unknown:
        raise Unprocessable(
            f"Not shared-library documents: {', '.join(unknown[:5])}", code="not_library_documents"
        )
    await repository.replace_links(session, course_id, document_ids)
    # Links are read on every search; the bump is for caches that key on the course alone.
    await repository.bump_version(session, course_key(course_id))
    await _audit(
        session,
        "course_library_set",
        actor.id,
        ("course", course_id),
        document_ids=[str(d) for d in document_ids],
    )
    return list(document_ids)


# ---------------------------------------------------------------------------- library browsing


async def library_subjects(
    session: AsyncSession, *, level: str | None = None, language: str | None = None
) -> list[SubjectOut]:
    """Subjects of the ready library documents, with their levels and languages."""
    facets = await repository.library_facets(session, LibraryFilter(level=level, language=language))
    subjects: dict[str, dict[str, Any]] = {}
    for subject, lvl, lang, count in facets:
        name = subject or "other"
        entry = subjects.setdefault(name, {"count": 0, "levels": set(), "languages": set()})
        entry["count"] += count
        if lvl:
            entry["levels"].add(lvl)
        if lang:
            entry["languages"].add(lang)
    return [
        SubjectOut(
            subject=name,
            textbook_count=entry["count"],
            levels=sorted(entry["levels"]),
            languages=sorted(entry["languages"]),
        )
        for name, entry in sorted(subjects.items())
    ]


async def list_textbooks(
    session: AsyncSession,
    *,
    level: str | None = None,
    subject: str | None = None,
    language: str | None = None,
    search: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[TextbookOut], int]:
    """Ready library documents by title."""
    rows, total = await repository.list_textbooks(
        session,
        LibraryFilter(level=level, subject=subject, language=language),
        search=search,
        limit=limit,
        offset=offset,
    )
    return [TextbookOut.model_validate(r) for r in rows], total


async def textbook_detail(session: AsyncSession, *, document_id: uuid.UUID) -> TextbookDetail:
    """A ready library document with its sections and the pages each one spans."""
    document = await repository.get_document(session, document_id)
    if (
        document is None
        or document.course_id is not None
        or document.status != DocumentStatus.ready
    ):
        raise DocumentNotFound("Textbook not found")
    outline = await repository.chunk_outline(session, document.id)
    sections: list[SectionOut] = []
    for _, page, label, heading in outline:
        last = sections[-1] if sections else None
        if last is not None and last.heading == heading:
            sections[-1] = last.model_copy(update={"last_page": page, "last_page_label": label})
        else:
            sections.append(
                SectionOut(
                    heading=heading,
                    first_page=page,
                    last_page=page,
                    first_page_label=label,
                    last_page_label=label,
                )
            )
    base = TextbookOut.model_validate(document)
    return TextbookDetail(
        **base.model_dump(), sections=sections, pages_without_text=document.pages_without_text
    )


# ---------------------------------------------------------------------------- sources


async def create_source(session: AsyncSession, *, actor: User, data: SourceCreate) -> Source:
    """Register a portal index page to crawl."""
    source = Source(
        name=data.name.strip(),
        url=str(data.url),
        level=data.level,
        subject=data.subject,
        language=data.language,
        max_depth=data.max_depth,
        created_by=actor.id,
    )
    session.add(source)
    await session.flush()
    await _audit(session, "source_created", actor.id, ("source", source.id), url=source.url)
    return source


async def get_source(session: AsyncSession, *, source_id: uuid.UUID) -> Source:
    """A source or 404."""
    source = await repository.get_source(session, source_id)
    if source is None:
        raise NotFound("Source not found", code="source_not_found")
    return source


async def start_sync(session: AsyncSession, *, actor: User, source: Source) -> SyncRun:
    """Queue a crawl of the source; one at a time per source (409 while one is pending)."""
    run_id = new_id()
    job = await enqueue(
        session,
        kind=CRAWL,
        payload={"source_id": str(source.id), "run_id": str(run_id)},
        dedupe_key=f"{CRAWL}:{source.id}",
        max_attempts=2,
    )
    if job.payload.get("run_id") != str(run_id):
        raise Conflict("A sync of this source is already queued or running", code="sync_pending")
    run = SyncRun(
        id=run_id, source_id=source.id, status=RunStatus.queued, job_id=job.id, skipped=[]
    )
    session.add(run)
    await session.flush()
    await _audit(session, "source_synced", actor.id, ("source", source.id), run_id=str(run.id))
    return run


async def queue_reference(
    session: AsyncSession, *, actor: User, reference_id: uuid.UUID
) -> tuple[Reference, Job]:
    """Queue the download and ingestion of a discovered reference as a library document."""
    reference = await repository.get_reference(session, reference_id)
    if reference is None:
        raise NotFound("Reference not found", code="reference_not_found")
    job = await enqueue_once(
        session, kind=INGEST_REFERENCE, key="reference_id", target=reference.id
    )
    reference.status = ReferenceStatus.queued
    reference.error = None
    await session.flush()
    await _audit(
        session, "reference_ingest", actor.id, ("reference", reference.id), url=reference.url
    )
    return reference, job


list_sources = repository.list_sources


async def source_by_name(session: AsyncSession, *, name: str) -> Source:
    """The source registered under this name (the first registered if several share it) or 404."""
    found = await repository.sources_named(session, name)
    if not found:
        raise NotFound("Source not found", code="source_not_found")
    return found[0]


async def list_runs(
    session: AsyncSession, *, source_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[SyncRun], int]:
    """A source's sync runs (404 for an unknown source), or every source's, newest first."""
    if source_id is not None:
        await get_source(session, source_id=source_id)
    return await repository.list_runs(session, source_id=source_id, limit=limit, offset=offset)


list_references = repository.list_references
