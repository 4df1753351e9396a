"""BacMR dialect (document 001): curriculum browsing, and the administrators' documents and
discovered references, on StudyHall's library (the knowledge domain).

A BacMR `grade` is a library textbook's `level`. Curriculum reads are public, like StudyHall's
`/library/*`; the rest is for administrators (admin token or `X-Admin-Key`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from studyhall.compat.bacmr import errors, ok
from studyhall.compat.bacmr_sources import ReferenceQueryDep, queued, reference_list
from studyhall.compat.base import DialectIn, parse
from studyhall.core.db import SessionDep
from studyhall.identity.dependencies import AdminUser
from studyhall.knowledge import service as knowledge
from studyhall.knowledge.dependencies import ManagedDocument
from studyhall.knowledge.schemas import DocumentOut, DocumentUpdate, ReferenceOut

router = APIRouter()

_Text = Annotated[str | None, Query(max_length=100)]
# The document's lists have no paging beyond limit/offset; textbooks come in one answer.
TEXTBOOK_LIMIT = 100


@router.get("/curriculum/subjects", summary="Subjects of the ready textbooks (public)")
async def subjects(session: SessionDep) -> dict[str, Any]:
    found = await knowledge.library_subjects(session, level=None, language=None)
    return {"subjects": [s.subject for s in found], "total": len(found)}


@router.get(
    "/curriculum/textbooks",
    responses=errors(422),
    summary="Ready textbooks grouped by education level (public)",
)
async def textbooks(
    session: SessionDep, grade: _Text = None, subject: _Text = None, language: _Text = None
) -> dict[str, Any]:
    items, total = await knowledge.list_textbooks(
        session,
        level=grade,
        subject=subject,
        language=language,
        limit=TEXTBOOK_LIMIT,
        offset=0,
    )
    levels: dict[str, list[dict[str, Any]]] = {}
    for book in items:
        levels.setdefault(book.level or "", []).append(book.model_dump(mode="json"))
    return {
        "levels": [
            {"grade": grade_name, "textbooks": books} for grade_name, books in levels.items()
        ],
        "total": total,
    }


@router.get(
    "/curriculum/textbooks/{textbook_id}",
    responses=errors(404),
    summary="A textbook with its sections and page range (public)",
)
async def textbook(textbook_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    detail = await knowledge.textbook_detail(session, document_id=textbook_id)
    return detail.model_dump(mode="json")


class DocumentChanges(DialectIn):
    title: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    subject: Annotated[str, Field(max_length=100)] | None = None
    level: Annotated[str, Field(max_length=100)] | None = None
    language: Annotated[str, Field(max_length=100)] | None = None


@router.patch(
    "/admin/documents/{document_id}",
    responses=errors(401, 403, 404, 422),
    summary="Change a document's title, subject, level or language",
)
async def update_document(
    body: DocumentChanges, admin: AdminUser, document: ManagedDocument, session: SessionDep
) -> dict[str, Any]:
    data = parse(DocumentUpdate, body.model_dump(exclude_none=True))
    updated = await knowledge.update_document(session, actor=admin, document=document, data=data)
    return ok(DocumentOut.model_validate(updated).model_dump(mode="json"))


@router.delete(
    "/admin/documents/{document_id}",
    responses=errors(401, 403, 404),
    summary="Delete a document with its chunks and vectors",
)
async def delete_document(
    admin: AdminUser, document: ManagedDocument, session: SessionDep
) -> dict[str, Any]:
    document_id = str(document.id)
    await knowledge.delete_document(session, actor=admin, document=document)
    return ok({"document_id": document_id})


@router.get(
    "/admin/references",
    responses=errors(401, 403, 422),
    summary="PDFs discovered by the sources' crawls",
)
async def references(
    admin: AdminUser, session: SessionDep, query: ReferenceQueryDep
) -> dict[str, Any]:
    return await reference_list(session, query, source=None, schema=ReferenceOut)


@router.post(
    "/admin/ingest/{reference_id}",
    responses=errors(401, 403, 404, 422),
    summary="Queue a discovered PDF's download and ingestion",
)
async def ingest(
    reference_id: uuid.UUID,
    admin: AdminUser,
    session: SessionDep,
    force: Annotated[bool, Query(description="Accepted; StudyHall always queues")] = False,
) -> dict[str, str]:
    # One job per reference at a time (StudyHall dedupes it), so `force` changes nothing.
    reference, job = await knowledge.queue_reference(
        session, actor=admin, reference_id=reference_id
    )
    return queued(job, reference.id)
