"""BacMR dialect (document 001): scraping, curriculum uploads and the ingestion queue, on
StudyHall's curriculum sources (the knowledge domain) and job queue.

A BacMR scraper `{source}` is a registered source's name (or id). A scrape is StudyHall's
crawl job: `POST /scraping/{source}/sync` queues it and answers the run at once (`queued`);
its counts fill in as it runs (`GET /scraping/{source}/runs`). Reads under `/scraping` are
public, like their canonical twins under `/api/v1/sources`; the rest is for administrators
(admin token or `X-Admin-Key`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from studyhall.compat.bacmr import Window, WindowDep, dump, errors
from studyhall.compat.base import DialectIn, parse
from studyhall.core.db import SessionDep
from studyhall.core.schemas import declare_nul_free
from studyhall.identity.dependencies import AdminUser
from studyhall.jobs import service as jobs
from studyhall.knowledge import service as knowledge
from studyhall.knowledge.dependencies import AnyUploadDep
from studyhall.knowledge.models import ReferenceStatus, RunStatus, Source
from studyhall.knowledge.schemas import (
    LibraryUploadFields,
    PublicReferenceOut,
    PublicSyncRunOut,
    SyncRunOut,
)

router = APIRouter()

# The document's `/scraping/sources` is one list; StudyHall follows a handful of portals.
SOURCES_LISTED = 100

# The document's reference statuses for StudyHall's.
STATUS_IN = {
    "discovered": ReferenceStatus.new,
    "queued": ReferenceStatus.queued,
    "ready": ReferenceStatus.ingested,
    "failed": ReferenceStatus.failed,
}
STATUS_OUT = {ours: theirs for theirs, ours in STATUS_IN.items()}
ReferenceStatusName = Annotated[
    Literal["discovered", "queued", "ready", "failed"] | None,
    Query(description="The document's names: `discovered` (new) and `ready` (ingested)"),
]
# A finished scrape is the document's `success`.
_RUN_STATUS = {RunStatus.succeeded: "success"}


class ReferenceQuery:
    """A list of discovered references: its window and the status it shows (the document's
    name, read as StudyHall's; None: any)."""

    def __init__(self, window: WindowDep, status: ReferenceStatusName = None) -> None:
        self.window = window
        self.status = STATUS_IN[status] if status else None


ReferenceQueryDep = Annotated[ReferenceQuery, Depends()]


async def reference_list(
    session: Any, query: ReferenceQuery, *, source: Source | None, schema: Any
) -> dict[str, Any]:
    """Discovered references (of a source) in `schema`, with the document's status names."""
    window = query.window
    rows, total = await knowledge.list_references(
        session,
        source_id=source.id if source is not None else None,
        status=query.status,
        limit=window.limit,
        offset=window.offset,
    )
    items = [dump(schema, r) for r in rows]
    for item in items:
        item["status"] = STATUS_OUT[ReferenceStatus(item["status"])]
    extra = {"source": source.name} if source is not None else {}
    return window.listing("references", items, total, **extra)


async def _runs(
    session: Any, window: Window, *, source: Source | None, schema: Any
) -> dict[str, Any]:
    """Scrape runs (of a source) in `schema`, with the document's `run_id` and statuses."""
    rows, total = await knowledge.list_runs(
        session,
        source_id=source.id if source is not None else None,
        limit=window.limit,
        offset=window.offset,
    )
    items = [_run(dump(schema, r)) for r in rows]
    extra = {"source": source.name} if source is not None else {}
    return window.listing("runs", items, total, **extra)


def _run(out: dict[str, Any]) -> dict[str, Any]:
    out["run_id"] = out["id"]
    out["status"] = _RUN_STATUS.get(RunStatus(out["status"]), out["status"])
    return out


def queued(job: Any, reference_id: Any) -> dict[str, Any]:
    """The document's answer to an ingestion request."""
    return {"status": "queued", "job_id": str(job.id), "reference_id": str(reference_id)}


async def _source(session: Any, name: str) -> Source:
    """The source a scraper name stands for: a registered name, or the source's id."""
    try:
        return await knowledge.get_source(session, source_id=uuid.UUID(name))
    except ValueError:
        return await knowledge.source_by_name(session, name=name)


# ------------------------------------------------------------------ scraping (public reads)


@router.get("/scraping/sources", summary="The scraper sources (public)")
async def sources(session: SessionDep) -> dict[str, list[str]]:
    rows, _ = await knowledge.list_sources(session, limit=SOURCES_LISTED, offset=0)
    return {"sources": [row.name for row in rows]}


@router.post(
    "/scraping/{source}/sync",
    responses=errors(401, 403, 404, 409),
    summary="Start a scrape of a portal (queued; 409 while one is pending)",
)
async def sync(source: str, admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    found = await _source(session, source)
    run = await knowledge.start_sync(session, actor=admin, source=found)
    return {
        "run_id": str(run.id),
        "status": _RUN_STATUS.get(run.status, str(run.status)),
        "found_count": run.found_count,
        "new_count": run.new_count,
        "job_id": str(run.job_id),
    }


@router.get(
    "/scraping/{source}/runs",
    responses=errors(404, 422),
    summary="A source's recent scrape runs (public)",
)
async def runs(source: str, session: SessionDep, window: WindowDep) -> dict[str, Any]:
    found = await _source(session, source)
    return await _runs(session, window, source=found, schema=PublicSyncRunOut)


@router.get(
    "/scraping/{source}/references",
    responses=errors(404, 422),
    summary="Curriculum files a source's scrapes discovered (public)",
)
async def source_references(
    source: str, session: SessionDep, query: ReferenceQueryDep
) -> dict[str, Any]:
    found = await _source(session, source)
    return await reference_list(session, query, source=found, schema=PublicReferenceOut)


# ------------------------------------------------------------------ administrators


@router.get(
    "/admin/scrape-runs",
    responses=errors(401, 403, 422),
    summary="Scrape runs across all sources",
)
async def scrape_runs(admin: AdminUser, session: SessionDep, window: WindowDep) -> dict[str, Any]:
    return await _runs(session, window, source=None, schema=SyncRunOut)


def _upload_form() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary"},
        "grade": {"type": "string", "maxLength": 64, "description": "The textbook's level"},
        "subject": {"type": "string", "minLength": 1, "maxLength": 100},
        "language": {"type": "string", "minLength": 2, "maxLength": 16},
        "title": {"type": "string", "maxLength": 300},
        "namespace": {"type": "string", "description": "Accepted and ignored (one index)"},
        "pdf_source": {"type": "string", "description": "Accepted and ignored"},
    }
    for name, field in properties.items():
        if name != "file":
            declare_nul_free(field)
    schema = {
        "type": "object",
        "required": ["file", "subject", "language"],
        "properties": properties,
    }
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


@router.post(
    "/admin/upload-curriculum",
    openapi_extra=_upload_form(),
    responses=errors(401, 403, 409, 413, 415, 422),
    summary="Upload a curriculum PDF to the library for ingestion",
)
async def upload_curriculum(
    request: Request, admin: AdminUser, form: AnyUploadDep, session: SessionDep
) -> dict[str, Any]:
    fields = parse(
        LibraryUploadFields,
        {
            "title": form.fields.get("title"),
            "level": form.fields.get("grade"),
            "subject": form.fields.get("subject"),
            "language": form.fields.get("language"),
        },
    )
    document, job = await knowledge.create_document(
        session,
        storage=request.app.state.storage,
        actor_id=admin.id,
        course_id=None,
        new=knowledge.NewDocument(
            data=form.data,
            filename=form.filename,
            title=fields.title,
            level=fields.level,
            subject=fields.subject,
            language=fields.language,
        ),
        duplicates="refuse",
    )
    return {
        "status": "queued",
        "job_id": str(job.id) if job is not None else None,
        "document_id": str(document.id),
        "filename": document.filename,
    }


# The ingestion jobs the document's queue holds: uploaded files and discovered references.
INGESTION_KINDS = (knowledge.INGEST, knowledge.INGEST_REFERENCE)


@router.post(
    "/admin/jobs/dispatch",
    responses=errors(401, 403, 404),
    summary="Start the oldest queued ingestion job now",
)
async def dispatch(admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    job = await jobs.dispatch_next(session, kinds=INGESTION_KINDS)
    return {
        "status": "dispatched",
        "job_id": str(job.id),
        "reference_id": job.payload.get("reference_id"),
    }


class EmbeddingBody(DialectIn):
    reference_id: uuid.UUID
    force: bool = Field(default=False, description="Accepted; StudyHall always queues")


@router.post(
    "/admin/vector-embedding",
    responses=errors(401, 403, 404, 422),
    summary="Queue a reference's ingestion (legacy)",
)
async def vector_embedding(
    body: EmbeddingBody, admin: AdminUser, session: SessionDep
) -> dict[str, Any]:
    reference, job = await knowledge.queue_reference(
        session, actor=admin, reference_id=body.reference_id
    )
    return queued(job, reference.id)
