"""Background jobs of the knowledge domain.

- `knowledge.ingest` {document_id}: extract, normalise, chunk, embed and store a document. All
  chunks are written in one transaction at the end (delete + insert), so a crash or a failure
  leaves no partial chunks and a re-run replaces them instead of adding more.
- `knowledge.reindex` {document_id?}: without a payload (periodic, every 5 minutes and right
  after the first worker starts) it finds ready documents whose vectors were made by another
  embedding model than the configured one and queues one `knowledge.reindex` per document, which
  re-embeds its chunks (the text is kept). Until then search uses those chunks via BM25 only.
- `knowledge.crawl` {source_id, run_id}: crawl a curriculum source, record discovered PDFs.
- `knowledge.ingest_reference` {reference_id}: download a discovered PDF (same safety rules as the
  crawl) and make it a library document, queued for `knowledge.ingest`.
- `knowledge.delete_files` {keys}: remove stored files once the rows pointing to them are gone.

Deterministic failures (a corrupt or hostile file, a refused URL) mark the document, run or
reference `failed` with a clear error and fail the job at once (`PermanentJobError`, no retry):
another attempt would fail the same way. Other errors (database, storage, embedding endpoint) are retried by the queue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.errors import UnsupportedMediaType
from studyhall.core.ids import new_id
from studyhall.core.storage import LocalStorage
from studyhall.jobs import service as jobs_service
from studyhall.jobs.registry import JobContext, PermanentJobError
from studyhall.knowledge import repository
from studyhall.knowledge.chunking import Chunk as TextChunk
from studyhall.knowledge.chunking import chunk_document
from studyhall.knowledge.crawler import (
    CrawlError,
    CrawlLimits,
    CrawlResult,
    Metadata,
    NetworkPolicy,
    crawl,
    download,
    title_from_url,
)
from studyhall.knowledge.extraction import (
    ExtractedDocument,
    ExtractedPage,
    ExtractionError,
    ExtractionLimits,
    extract,
)
from studyhall.knowledge.models import (
    ERROR_CHARS,
    Document,
    DocumentStatus,
    Reference,
    ReferenceStatus,
    RunStatus,
)
from studyhall.knowledge.retrieval import chunk_keys_for, embedder_for, encode_vectors
from studyhall.knowledge.service import (
    REINDEX,
    NewDocument,
    create_document,
    enqueue_once,
)

log = structlog.get_logger(__name__)

Progress = Callable[[float, str | None], Awaitable[None]]
REINDEX_EVERY_S = 300
_REINDEX_SWEEP = 1000


async def _no_progress(_fraction: float, _message: str | None) -> None:
    return None


# ---------------------------------------------------------------------------- ingestion


def extraction_limits(settings: Settings, size: int) -> ExtractionLimits:
    """Extraction bounds from the settings."""
    knowledge = settings.knowledge
    return ExtractionLimits(
        max_bytes=max(size, knowledge.max_upload_bytes),
        max_pages=knowledge.max_pdf_pages,
        time_budget_s=knowledge.extraction_timeout_s,
        max_memory_mb=knowledge.extraction_memory_mb,
        ocr=knowledge.ocr,
        ocr_languages=knowledge.ocr_languages,
    )


def _embedding_text(chunk: TextChunk) -> str:
    # The heading gives a passage its topic ("2.3 Newton's method" + a paragraph about it).
    if chunk.heading and chunk.heading not in chunk.text[: len(chunk.heading) + 5]:
        return f"{chunk.heading}\n{chunk.text}"
    return chunk.text


async def _embed(
    settings: Settings, texts: list[str], progress: Progress, start: float, span: float
) -> tuple[np.ndarray, str]:
    embedder = embedder_for(settings.embeddings)
    batch = max(1, settings.embeddings.batch_size)
    parts: list[np.ndarray] = []
    for offset in range(0, len(texts), batch):
        parts.append(np.asarray(await embedder.embed_passages(texts[offset : offset + batch])))
        done = min(len(texts), offset + batch)
        await progress(start + span * done / max(1, len(texts)), f"embedded {done}/{len(texts)}")
    matrix = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    return matrix.astype(np.float32, copy=False), embedder.name


async def _set_status(
    db: Database, document_id: uuid.UUID, status: DocumentStatus, error: str | None
) -> None:
    """Mark a document; a failed one also loses its chunks (no partial or stale content)."""
    async with db.session() as session:
        document = await repository.lock_document(session, document_id)
        if document is None:
            return
        document.status = status
        document.error = error
        if status == DocumentStatus.failed:
            await repository.follow_document(
                session, document_id, status=ReferenceStatus.failed, error=error
            )
        if status == DocumentStatus.failed and document.chunk_count:
            await repository.delete_chunks(session, document_id)
            document.chunk_count = 0
            await repository.bump_version(session, chunk_keys_for(document.course_id, document_id))


async def fail_document(db: Database, document_id: uuid.UUID, error: str) -> None:
    """Mark a document failed with an error (its chunks go too)."""
    await _set_status(db, document_id, DocumentStatus.failed, error[:ERROR_CHARS])


async def run_ingestion(
    db: Database,
    settings: Settings,
    storage: LocalStorage,
    *,
    document_id: uuid.UUID,
    progress: Progress = _no_progress,
) -> dict[str, Any]:
    """Ingest one stored document end to end; returns a summary (also used by the CLI)."""
    async with db.session() as session:
        document = await repository.get_document(session, document_id)
        if document is None:
            return {"skipped": "document deleted"}
        document.status = DocumentStatus.processing
        document.error = None
        key, filename, course_id = document.storage_key, document.filename, document.course_id
    try:
        extracted = await _read_and_extract(
            settings, storage, key, filename, document_id=document_id, progress=progress
        )
    except _IngestionFailed as exc:
        await _set_status(db, document_id, DocumentStatus.failed, exc.error)
        return {"document_status": "failed", "error": exc.error}
    pages = extracted.pages
    await progress(0.3, f"extracted {len(pages)} pages")
    rows, model, dimension = await _chunk_rows(
        settings, extracted, document_id=document_id, course_id=course_id, progress=progress
    )
    async with db.session() as session:
        document = await repository.lock_document(session, document_id)
        if document is None:
            return {"skipped": "document deleted"}
        # Replace, never add: whatever an earlier run stored goes in the same transaction.
        await repository.delete_chunks(session, document_id)
        await repository.insert_chunks(session, rows)
        await repository.follow_document(session, document_id, status=ReferenceStatus.ingested)
        _mark_ready(document, pages, chunk_count=len(rows), model=model, dimension=dimension)
        await repository.bump_version(session, chunk_keys_for(course_id, document_id))
    await progress(1.0, "ready")
    return {
        "document_status": "ready",
        "pages": len(pages),
        "chunks": len(rows),
        "pages_without_text": [p.number for p in pages if not p.has_text],
    }


class _IngestionFailed(Exception):
    """The document cannot be ingested as it is stored (missing file, unreadable text)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


async def _read_and_extract(
    settings: Settings,
    storage: LocalStorage,
    key: str,
    filename: str | None,
    *,
    document_id: uuid.UUID,
    progress: Progress,
) -> ExtractedDocument:
    """The stored file's text, page by page."""
    await progress(0.02, "reading the file")
    try:
        data = await storage.get(key)
    except FileNotFoundError:
        raise _IngestionFailed("The stored file is missing; upload the document again.") from None
    await progress(0.05, "extracting text")
    try:
        # Blocking (PDFs are parsed in a child process with memory and time limits).
        return await asyncio.to_thread(
            extract, data, filename, limits=extraction_limits(settings, len(data))
        )
    except ExtractionError as exc:
        log.warning("document_extraction_failed", document_id=str(document_id), error=str(exc))
        raise _IngestionFailed(f"Text extraction failed: {exc}") from exc


async def _chunk_rows(
    settings: Settings,
    extracted: ExtractedDocument,
    *,
    document_id: uuid.UUID,
    course_id: uuid.UUID | None,
    progress: Progress,
) -> tuple[list[dict[str, Any]], str, int]:
    """The document's chunks as rows with their vectors, the model and its dimension."""
    chunks = await asyncio.to_thread(chunk_document, extracted)
    await progress(0.35, f"{len(chunks)} chunks")
    vectors, model = await _embed(
        settings, [_embedding_text(c) for c in chunks], progress, 0.35, 0.6
    )
    dimension = int(vectors.shape[1]) if len(chunks) else 0
    blobs = encode_vectors(vectors) if len(chunks) else []
    rows = [
        {
            "id": new_id(),
            "document_id": document_id,
            "course_id": course_id,
            "position": chunk.position,
            "page": chunk.page,
            "page_label": chunk.page_label[:32] if chunk.page_label else None,
            "heading": chunk.heading[:500] if chunk.heading else None,
            "text": chunk.text,
            "embedding": blob,
            "embedding_model": model,
            "embedding_dim": dimension,
        }
        for chunk, blob in zip(chunks, blobs, strict=True)
    ]
    return rows, model, dimension


def _mark_ready(
    document: Document, pages: list[ExtractedPage], *, chunk_count: int, model: str, dimension: int
) -> None:
    """What an ingestion learnt about the document: its pages, labels, chunks and model."""
    document.status = DocumentStatus.ready
    document.error = None
    document.page_count = len(pages)
    document.chunk_count = chunk_count
    document.pages_without_text = [p.number for p in pages if not p.has_text]
    document.ocr_pages = [p.number for p in pages if p.ocr]
    document.first_page_label = (pages[0].label or str(pages[0].number))[:32] if pages else None
    document.last_page_label = (pages[-1].label or str(pages[-1].number))[:32] if pages else None
    document.embedding_model = model
    document.embedding_dim = dimension or None
    document.processed_at = utcnow()


async def _last_attempt(ctx: JobContext) -> bool:
    async with ctx.db.session(write=False) as session:
        job = await jobs_service.get_job(session, job_id=ctx.job_id)
        return ctx.attempt >= job.max_attempts


async def ingest(ctx: JobContext) -> None:
    """Ingest one uploaded document."""
    document_id = uuid.UUID(str(ctx.payload["document_id"]))
    try:
        ctx.result = await run_ingestion(
            ctx.db, ctx.settings, ctx.storage, document_id=document_id, progress=ctx.progress
        )
    except Exception as exc:
        # The queue retries; meanwhile the document says what happened (failed on the last try).
        final = await _last_attempt(ctx)
        status = DocumentStatus.failed if final else DocumentStatus.queued
        message = f"{type(exc).__name__}: {exc}"[:2000]
        await _set_status(
            ctx.db, document_id, status, message if final else f"{message} (will retry)"
        )
        raise
    if ctx.result.get("document_status") == "failed":
        raise PermanentJobError(ctx.result["error"])


# ---------------------------------------------------------------------------- re-indexing


async def reindex(ctx: JobContext) -> None:
    """Re-embed documents made with another model (sweep), or one document (payload)."""
    model = embedder_for(ctx.settings.embeddings).name
    raw = ctx.payload.get("document_id")
    if raw is None:
        async with ctx.db.session() as session:
            stale = await repository.stale_document_ids(session, model=model, limit=_REINDEX_SWEEP)
            for document_id in stale:
                await enqueue_once(session, kind=REINDEX, key="document_id", target=document_id)
        ctx.result = {"queued": len(stale), "model": model}
        return
    ctx.result = await reembed_document(
        ctx.db, ctx.settings, document_id=uuid.UUID(str(raw)), progress=ctx.progress
    )


async def reembed_document(
    db: Database, settings: Settings, *, document_id: uuid.UUID, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Replace a document's vectors with the configured model's, keeping its chunks."""
    async with db.session(write=False) as session:
        document = await repository.get_document(session, document_id)
        if document is None or document.status != DocumentStatus.ready:
            return {"skipped": "not ready"}
        course_id = document.course_id
        texts = await repository.chunk_texts(session, document_id)
        outline = await repository.chunk_outline(session, document_id)
    inputs = [
        _embedding_text(TextChunk(position, page or 0, label, heading, text))
        for (position, page, label, heading), (_, text) in zip(outline, texts, strict=True)
    ]
    vectors, model = await _embed(settings, inputs, progress, 0.0, 0.95)
    dimension = int(vectors.shape[1]) if texts else 0
    rows = [
        {"id": chunk_id, "embedding": blob, "embedding_model": model, "embedding_dim": dimension}
        for (chunk_id, _), blob in zip(texts, encode_vectors(vectors) if texts else [], strict=True)
    ]
    async with db.session() as session:
        document = await repository.lock_document(session, document_id)
        if document is None:
            return {"skipped": "document deleted"}
        current = [chunk_id for chunk_id, _ in await repository.chunk_texts(session, document_id)]
        if current != [chunk_id for chunk_id, _ in texts]:
            # Re-ingested meanwhile: its new chunks were embedded with the current model already.
            return {"skipped": "chunks changed"}
        await repository.set_embeddings(session, rows)
        document.embedding_model = model
        document.embedding_dim = dimension or None
        await repository.bump_version(session, chunk_keys_for(course_id, document_id))
    return {"chunks": len(rows), "model": model}


# ---------------------------------------------------------------------------- crawling


def network_policy(settings: Settings) -> NetworkPolicy:
    """The crawler's address policy from the settings."""
    return NetworkPolicy.from_settings(
        settings.knowledge.crawl_allow_private, settings.knowledge.crawl_allowed_networks
    )


@dataclass(frozen=True)
class _CrawlPlan:
    """What a run crawls: the source's index page, its limits and its default metadata."""

    source_id: uuid.UUID
    url: str
    limits: CrawlLimits
    defaults: Metadata


async def crawl_source(ctx: JobContext) -> None:
    """Crawl a source's index page and record the PDFs it links to."""
    run_id = uuid.UUID(str(ctx.payload["run_id"]))
    plan = await _start_run(ctx, run_id)
    if plan is None:
        return
    await ctx.progress(0.1, "crawling")
    try:
        result = await crawl(
            plan.url,
            policy=network_policy(ctx.settings),
            limits=plan.limits,
            defaults=plan.defaults,
            user_agent=ctx.settings.knowledge.crawl_user_agent,
        )
    except CrawlError as exc:
        await _fail_run(ctx.db, run_id, str(exc))
        ctx.result = {"run_status": "failed", "error": str(exc)[:500]}
        raise PermanentJobError(f"Crawl failed: {exc}") from exc
    except Exception as exc:
        if await _last_attempt(ctx):
            await _fail_run(ctx.db, run_id, f"{type(exc).__name__}: {exc}")
        raise
    await ctx.progress(0.9, f"{len(result.found)} PDF links found")
    now = utcnow()
    async with ctx.db.session() as session:
        run = await repository.get_run(session, run_id)
        source = await repository.get_source(session, plan.source_id)
        if run is None or source is None:
            return
        new = await _record_found(
            session, source_id=source.id, run_id=run_id, result=result, now=now
        )
        run.status = RunStatus.succeeded
        run.found_count = len(result.found)
        run.new_count = new
        run.pages_visited = result.pages_visited
        skipped = list(result.skipped)
        if result.stopped_by:
            skipped.append({"url": plan.url, "reason": f"crawl stopped: {result.stopped_by}"})
        run.skipped = skipped
        run.finished_at = now
        source.last_synced_at = now
    ctx.result = {"found": len(result.found), "new": new, "pages": result.pages_visited}


async def _start_run(ctx: JobContext, run_id: uuid.UUID) -> _CrawlPlan | None:
    """Mark the run running and read what it crawls (None: the run or its source is gone)."""
    async with ctx.db.session() as session:
        run = await repository.get_run(session, run_id)
        source = await repository.get_source(session, run.source_id) if run else None
        if run is None or source is None:
            return None
        run.status = RunStatus.running
        run.started_at = run.started_at or utcnow()
        return _CrawlPlan(
            source_id=source.id,
            url=source.url,
            limits=CrawlLimits.from_settings(ctx.settings.knowledge, depth=source.max_depth),
            defaults=Metadata(level=source.level, subject=source.subject, language=source.language),
        )


async def _fail_run(db: Database, run_id: uuid.UUID, error: str) -> None:
    async with db.session() as session:
        run = await repository.get_run(session, run_id)
        if run is not None:
            run.fail(error)


async def _record_found(
    session: AsyncSession,
    *,
    source_id: uuid.UUID,
    run_id: uuid.UUID,
    result: CrawlResult,
    now: datetime,
) -> int:
    """Add the PDFs seen for the first time as new references, refresh the known ones; returns
    how many are new."""
    existing = await repository.references_by_url(
        session, source_id=source_id, urls=[f.url for f in result.found]
    )
    new = 0
    for found in result.found:
        reference = existing.get(found.url)
        if reference is None:
            new += 1
            session.add(
                Reference(
                    source_id=source_id,
                    url=found.url,
                    found_on=found.found_on,
                    title=found.title or title_from_url(found.url),
                    level=found.level,
                    subject=found.subject,
                    language=found.language,
                    status=ReferenceStatus.new,
                    first_run_id=run_id,
                    last_seen_at=now,
                )
            )
        else:
            reference.last_seen_at = now
            reference.found_on = found.found_on
    return new


async def ingest_reference(ctx: JobContext) -> None:
    """Download a discovered PDF and make it a library document (queued for ingestion)."""
    reference_id = uuid.UUID(str(ctx.payload["reference_id"]))
    knowledge = ctx.settings.knowledge
    async with ctx.db.session(write=False) as session:
        reference = await repository.get_reference(session, reference_id)
        if reference is None:
            return
        if reference.document_id is not None and await repository.get_document(
            session, reference.document_id
        ):
            ctx.result = {"document_id": str(reference.document_id), "skipped": "already ingested"}
            return
        url = reference.url
    try:
        fetched = await download(
            url,
            policy=network_policy(ctx.settings),
            max_bytes=knowledge.max_upload_bytes,
            timeout_s=knowledge.crawl_timeout_s,
        )
    except CrawlError as exc:
        await _reference_failed(ctx.db, reference_id, f"Download failed: {exc}")
        ctx.result = {"reference_status": "failed", "error": str(exc)[:500]}
        raise PermanentJobError(f"Download failed: {exc}") from exc
    try:
        async with ctx.db.session() as session:
            reference = await repository.get_reference(session, reference_id)
            if reference is None:
                return
            document, job = await create_document(
                session,
                storage=ctx.storage,
                actor_id=None,
                course_id=None,
                new=NewDocument.of_reference(reference, fetched.content),
            )
            # Ingested once its document is ready; failed if the document fails.
            reference.document_id = document.id
            reference.status = ReferenceStatus.queued
            reference.error = None
    except UnsupportedMediaType as exc:
        await _reference_failed(ctx.db, reference_id, exc.message)
        ctx.result = {"reference_status": "failed", "error": exc.message[:500]}
        raise PermanentJobError(exc.message) from exc
    ctx.result = {"document_id": str(document.id), "job_id": str(job.id) if job else None}


async def _reference_failed(db: Database, reference_id: uuid.UUID, error: str) -> None:
    async with db.session() as session:
        reference = await repository.get_reference(session, reference_id)
        if reference is not None:
            reference.fail(error)
