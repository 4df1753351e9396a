"""HTTP routes of documents, search, the shared library and curriculum sources."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute, errors
from studyhall.core.pagination import PageParams, Pagination, listed
from studyhall.core.schemas import Page
from studyhall.identity.dependencies import AdminUser, CurrentUser, SettingsDep, TeacherOrAdmin
from studyhall.identity.models import User
from studyhall.jobs.schemas import JobOut
from studyhall.knowledge import service
from studyhall.knowledge.dependencies import (
    CourseUpload,
    CourseUploadDep,
    LibraryUploadDep,
    ManagedCourse,
    ManagedDocument,
    ReadableCourse,
    ReadableDocument,
    upload_openapi,
)
from studyhall.knowledge.models import DocumentStatus, ReferenceStatus
from studyhall.knowledge.schemas import (
    ChunkOut,
    CourseLibrary,
    CourseLibraryOut,
    DocumentOut,
    DocumentUpdate,
    DuplicateDocumentOut,
    PublicReferenceOut,
    PublicSourceOut,
    PublicSyncRunOut,
    ReferenceIngestAccepted,
    ReferenceOut,
    SearchHit,
    SearchRequest,
    SourceCreate,
    SourceOut,
    SubjectOut,
    SyncRunOut,
    TextbookDetail,
    TextbookOut,
    UploadAccepted,
)
from studyhall.knowledge.snippets import query_excerpt
from studyhall.tutor.leakcheck import WITHHELD_EXCERPT

router = APIRouter(tags=["knowledge"], route_class=DocumentedRoute)
_Level = Annotated[str | None, Query(max_length=64)]
_Subject = Annotated[str | None, Query(max_length=100)]
_Language = Annotated[str | None, Query(max_length=16)]
_Route = TypeVar("_Route", bound=Callable[..., Any])
_DocumentStatus = Annotated[DocumentStatus | None, Query()]
_ReferenceStatus = Annotated[ReferenceStatus | None, Query()]


_Replace = Annotated[
    bool,
    Query(
        description="Replace the course's (or library's) document that holds the same bytes "
        "instead of answering 409 `duplicate_document`"
    ),
]
_DUPLICATE: dict[int | str, dict[str, Any]] = {
    409: {
        "model": DuplicateDocumentOut,
        "description": "The same file is already a document here (`duplicate_document`, with it)",
    }
}


def _duplicate(exc: service.DuplicateDocument) -> JSONResponse:
    body = DuplicateDocumentOut(
        detail=exc.message, code=exc.code, document=DocumentOut.model_validate(exc.existing)
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_409_CONFLICT)


async def _create(
    request: Request,
    session: SessionDep,
    user: User,
    course_id: uuid.UUID | None,
    form: CourseUpload,
    *,
    replace: bool,
) -> UploadAccepted | JSONResponse:
    """A course's (or, without a course, the library's) new document and its ingestion job;
    the same file twice is the 409 with the existing document unless `replace`."""
    try:
        document, job = await service.create_document(
            session,
            storage=request.app.state.storage,
            actor_id=user.id,
            course_id=course_id,
            new=form.document(),
            duplicates="replace" if replace else "refuse",
        )
    except service.DuplicateDocument as exc:
        return _duplicate(exc)
    return _accepted(document, job)


def _accepted(document: object, job: object) -> UploadAccepted:
    return UploadAccepted(
        document=DocumentOut.model_validate(document), job=JobOut.model_validate(job)
    )


# ---------------------------------------------------------------------------- documents


def _upload_route(path: str, *, library: bool) -> Callable[[_Route], _Route]:
    """A document upload's route: 202 with the ingestion job, the multipart form documented,
    the 409 of a duplicate with the document it duplicates."""
    return router.post(
        path,
        status_code=status.HTTP_202_ACCEPTED,
        openapi_extra=upload_openapi(library=library),
        responses=_DUPLICATE,
        response_model=UploadAccepted,
    )


@_upload_route("/courses/{course_id}/documents", library=False)
async def upload_course_document(
    request: Request,
    session: SessionDep,
    user: TeacherOrAdmin,
    course_id: ManagedCourse,
    form: CourseUploadDep,
    replace: _Replace = False,
) -> UploadAccepted | JSONResponse:
    """Upload a PDF, DOCX, Markdown, HTML or text file to a course; ingestion runs as a job.

    The same file twice is answered 409 `duplicate_document` with the existing document, unless
    `replace=true` asks to replace it.
    """
    return await _create(request, session, user, course_id, form, replace=replace)


@_upload_route("/library/documents", library=True)
async def upload_library_document(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    form: LibraryUploadDep,
    replace: _Replace = False,
) -> UploadAccepted | JSONResponse:
    """Upload a document to the shared curriculum library (admins); duplicates as for courses."""
    return await _create(request, session, user, None, form, replace=replace)


async def _documents(
    session: AsyncSession,
    page: Pagination,
    course_id: uuid.UUID | None,
    status: DocumentStatus | None,
) -> Page[DocumentOut]:
    """The page of a course's documents (the library's for None), newest first."""
    return await listed(
        page,
        DocumentOut.model_validate,
        service.list_documents,
        session,
        course_id=course_id,
        status=status,
    )


@router.get("/library/documents")
async def list_library_documents(
    session: SessionDep, _admin: AdminUser, page: PageParams, status: _DocumentStatus = None
) -> Page[DocumentOut]:
    """Every library document whatever its status (admins; browsing shows only ready ones)."""
    return await _documents(session, page, None, status)


@router.get("/courses/{course_id}/documents")
async def list_course_documents(
    session: SessionDep, course_id: ReadableCourse, page: PageParams, status: _DocumentStatus = None
) -> Page[DocumentOut]:
    """A course's documents with their ingestion status, newest first."""
    return await _documents(session, page, course_id, status)


@router.get("/documents/{document_id}")
async def get_document(document: ReadableDocument) -> DocumentOut:
    """A document: status, pages, chunks, pages without text, error."""
    return DocumentOut.model_validate(document)


_MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
}


@router.get(
    "/documents/{document_id}/file",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The uploaded file: PDFs inline (open at a page with `#page=N`), "
            "other kinds as a download",
            "content": {t.split(";")[0]: {} for t in _MEDIA_TYPES.values()},
        }
    },
)
async def document_file(request: Request, document: ReadableDocument) -> FileResponse:
    """The document's file, for anyone who may read its course (library files: any user).

    Only PDFs are shown inline: an uploaded HTML page opened from the API's origin could run
    script there, so every other kind is sent as an attachment.
    """
    path = request.app.state.storage.local_path(document.storage_key)
    if not path.is_file():
        raise service.DocumentNotFound("The document's file is no longer stored")
    inline = document.kind == "pdf"
    return FileResponse(
        path,
        media_type=_MEDIA_TYPES.get(document.kind, "application/octet-stream"),
        filename=service.download_name(document),
        content_disposition_type="inline" if inline else "attachment",
        headers={"Cache-Control": "private, max-age=300"},
    )


@router.patch("/documents/{document_id}")
async def update_document(
    session: SessionDep, user: CurrentUser, document: ManagedDocument, body: DocumentUpdate
) -> DocumentOut:
    """Change a document's title or metadata (course owner, admin)."""
    updated = await service.update_document(session, actor=user, document=document, data=body)
    return DocumentOut.model_validate(updated)


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    session: SessionDep, user: CurrentUser, document: ManagedDocument
) -> None:
    """Delete a document with its chunks and vectors (course owner, admin)."""
    await service.delete_document(session, actor=user, document=document)


@router.post("/documents/{document_id}/reingest", status_code=status.HTTP_202_ACCEPTED)
async def reingest_document(session: SessionDep, document: ManagedDocument) -> UploadAccepted:
    """Run the ingestion again (after a failure or an extractor upgrade); chunks are replaced."""
    job = await service.reingest(session, document=document)
    return _accepted(document, job)


@router.get("/documents/{document_id}/chunks")
async def list_chunks(
    session: SessionDep,
    document: ManagedDocument,
    page: PageParams,
    page_number: Annotated[int | None, Query(alias="page", ge=1)] = None,
) -> Page[ChunkOut]:
    """A document's chunks in reading order, optionally of one physical page (course owner, admin)."""
    return await listed(
        page,
        ChunkOut.model_validate,
        service.list_chunks,
        session,
        document=document,
        page=page_number,
    )


# ---------------------------------------------------------------------------- search


@router.post("/courses/{course_id}/search")
async def search_course(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    course_id: ReadableCourse,
    body: SearchRequest,
) -> list[SearchHit]:
    """Hybrid (BM25 + vector) search of the course's documents and its linked library.

    For a student, a chunk that gives away the answer of a quiz they have not passed yet keeps
    its pointer (document, page, heading) but its text and excerpt are withheld."""
    shown = await service.search_for_reader(
        session, user=user, course_id=course_id, query=body.query, k=body.k, settings=settings
    )
    return [
        SearchHit(
            chunk_id=s.passage.chunk_id,
            document_id=s.passage.document_id,
            document_title=s.passage.document_title,
            page=s.passage.page,
            page_label=s.passage.page_label,
            heading=s.passage.heading,
            text=WITHHELD_EXCERPT if s.withheld else s.passage.text,
            excerpt=WITHHELD_EXCERPT if s.withheld else query_excerpt(s.passage.text, body.query),
            score=s.passage.score,
        )
        for s in shown
    ]


# ---------------------------------------------------------------------------- library


@router.get("/courses/{course_id}/library")
async def get_course_library(session: SessionDep, course_id: ReadableCourse) -> CourseLibraryOut:
    """The shared-library documents this course's search and tutor also use."""
    return CourseLibraryOut(document_ids=await service.course_library(session, course_id=course_id))


@router.put("/courses/{course_id}/library")
async def set_course_library(
    session: SessionDep, user: CurrentUser, course_id: ManagedCourse, body: CourseLibrary
) -> CourseLibraryOut:
    """Replace the course's linked library documents (course owner, admin)."""
    ids = await service.set_course_library(
        session, actor=user, course_id=course_id, document_ids=body.document_ids
    )
    return CourseLibraryOut(document_ids=ids)


@router.get("/library/subjects")
async def library_subjects(
    session: SessionDep, level: _Level = None, language: _Language = None
) -> list[SubjectOut]:
    """Subjects of the library with their levels, languages and textbook counts (public)."""
    return await service.library_subjects(session, level=level, language=language)


@router.get("/library/textbooks")
async def list_textbooks(
    session: SessionDep,
    page: PageParams,
    level: _Level = None,
    subject: _Subject = None,
    language: _Language = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[TextbookOut]:
    """Ready library textbooks filtered by level, subject, language and title (public)."""
    # The service already answers TextbookOut items: validating one again returns it as is.
    return await listed(
        page,
        TextbookOut.model_validate,
        service.list_textbooks,
        session,
        level=level,
        subject=subject,
        language=language,
        search=search,
    )


@router.get("/library/textbooks/{document_id}")
async def get_textbook(session: SessionDep, document_id: uuid.UUID) -> TextbookDetail:
    """A textbook with its sections and the page ranges they span (public)."""
    return await service.textbook_detail(session, document_id=document_id)


# ---------------------------------------------------------------------------- sources (admin)
# Admins and the public list the same runs and references; only the fields shown differ.

_Out = TypeVar("_Out", bound=BaseModel)


async def _runs(
    session: AsyncSession, page: Pagination, out: type[_Out], source_id: uuid.UUID | None
) -> Page[_Out]:
    """The page of a source's sync runs (every source's for None), newest first."""
    return await listed(page, out.model_validate, service.list_runs, session, source_id=source_id)


async def _references(
    session: AsyncSession,
    page: Pagination,
    out: type[_Out],
    source_id: uuid.UUID | None,
    status: ReferenceStatus | None,
) -> Page[_Out]:
    """The page of discovered references, newest first."""
    return await listed(
        page,
        out.model_validate,
        service.list_references,
        session,
        source_id=source_id,
        status=status,
    )


@router.get("/admin/sources")
async def list_sources(session: SessionDep, _admin: AdminUser, page: PageParams) -> Page[SourceOut]:
    """Registered curriculum sources."""
    return await listed(page, SourceOut.model_validate, service.list_sources, session)


@router.post("/admin/sources", status_code=status.HTTP_201_CREATED)
async def create_source(session: SessionDep, user: AdminUser, body: SourceCreate) -> SourceOut:
    """Register a portal's index page to crawl for PDF links."""
    return SourceOut.model_validate(await service.create_source(session, actor=user, data=body))


@router.get("/admin/sources/{source_id}")
async def get_source(session: SessionDep, _admin: AdminUser, source_id: uuid.UUID) -> SourceOut:
    """One source."""
    return SourceOut.model_validate(await service.get_source(session, source_id=source_id))


@router.post(
    "/admin/sources/{source_id}/sync", status_code=status.HTTP_202_ACCEPTED, responses=errors(409)
)
async def sync_source(session: SessionDep, user: AdminUser, source_id: uuid.UUID) -> SyncRunOut:
    """Queue a crawl of the source; the run records what it found (409 while one is pending)."""
    source = await service.get_source(session, source_id=source_id)
    return SyncRunOut.model_validate(await service.start_sync(session, actor=user, source=source))


@router.get("/admin/sources/{source_id}/runs")
async def list_runs(
    session: SessionDep, _admin: AdminUser, source_id: uuid.UUID, page: PageParams
) -> Page[SyncRunOut]:
    """A source's sync runs with found/new counts, newest first."""
    return await _runs(session, page, SyncRunOut, source_id)


@router.get("/admin/sync-runs")
async def list_all_runs(
    session: SessionDep, _admin: AdminUser, page: PageParams
) -> Page[SyncRunOut]:
    """Every source's sync runs, newest first."""
    return await _runs(session, page, SyncRunOut, None)


@router.get("/admin/references")
async def list_references(
    session: SessionDep,
    _admin: AdminUser,
    page: PageParams,
    source_id: Annotated[uuid.UUID | None, Query()] = None,
    status: _ReferenceStatus = None,
) -> Page[ReferenceOut]:
    """PDFs discovered by crawls, newest first."""
    return await _references(session, page, ReferenceOut, source_id, status)


@router.post("/admin/references/{reference_id}/ingest", status_code=status.HTTP_202_ACCEPTED)
async def ingest_reference(
    session: SessionDep, user: AdminUser, reference_id: uuid.UUID
) -> ReferenceIngestAccepted:
    """Queue the download of a discovered PDF into the library, then its ingestion."""
    reference, job = await service.queue_reference(session, actor=user, reference_id=reference_id)
    return ReferenceIngestAccepted(
        reference=ReferenceOut.model_validate(reference), job=JobOut.model_validate(job)
    )


# ---------------------------------------------------------------------------- sources (public)
# What crawls found is public portals' material: anyone may see which portals are followed,
# how their crawls went and which files they list (not the crawl settings, skipped links or
# errors, which are the admins').


@router.get("/sources")
async def public_sources(session: SessionDep, page: PageParams) -> Page[PublicSourceOut]:
    """The curriculum portals StudyHall follows (public)."""
    return await listed(page, PublicSourceOut.model_validate, service.list_sources, session)


@router.get("/sources/{source_id}/runs")
async def public_runs(
    session: SessionDep, source_id: uuid.UUID, page: PageParams
) -> Page[PublicSyncRunOut]:
    """A portal's recent crawls in figures, newest first (public)."""
    return await _runs(session, page, PublicSyncRunOut, source_id)


@router.get("/sources/{source_id}/references")
async def public_references(
    session: SessionDep, source_id: uuid.UUID, page: PageParams, status: _ReferenceStatus = None
) -> Page[PublicReferenceOut]:
    """The curriculum files a portal's crawls discovered, newest first (public)."""
    await service.get_source(session, source_id=source_id)
    return await _references(session, page, PublicReferenceOut, source_id, status)
