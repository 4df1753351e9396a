"""All SQL of the knowledge domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.core.listing import newest_first, where_given
from studyhall.core.pagination import paginate
from studyhall.knowledge.models import (
    Chunk,
    Collection,
    CourseLibraryLink,
    Document,
    DocumentStatus,
    Reference,
    ReferenceStatus,
    Source,
    SyncRun,
)

# ---------------------------------------------------------------------------- documents


async def get_document(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    """A document by id."""
    return await session.get(Document, document_id)


async def lock_document(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    """A document by id, row-locked until the end of the transaction (PostgreSQL)."""
    result = await session.execute(
        select(Document)
        .where(Document.id == document_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalars().first()


async def list_documents(
    session: AsyncSession,
    *,
    course_id: uuid.UUID | None,
    status: DocumentStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[Document], int]:
    """A course's documents (or the library's when course_id is None), newest first."""
    scope = Document.course_id == course_id if course_id else Document.course_id.is_(None)
    query = where_given(select(Document).where(scope), (Document.status, status))
    return await paginate(
        session, query, order_by=newest_first(Document), limit=limit, offset=offset
    )


async def same_content(
    session: AsyncSession, *, course_id: uuid.UUID | None, sha256: str
) -> list[Document]:
    """Documents of the same scope (a course, or the library) holding exactly these bytes,
    oldest first; failed ones are not counted (uploading again is how one retries)."""
    rows = await session.scalars(
        select(Document)
        .where(
            Document.course_id == course_id if course_id else Document.course_id.is_(None),
            Document.sha256 == sha256,
            Document.status != DocumentStatus.failed,
        )
        .order_by(Document.created_at, Document.id)
    )
    return list(rows)


async def delete_document(session: AsyncSession, document_id: uuid.UUID) -> None:
    """Delete a document with its chunks (vectors included) and library links."""
    await session.execute(delete(Chunk).where(Chunk.document_id == document_id))
    await session.execute(
        delete(CourseLibraryLink).where(CourseLibraryLink.document_id == document_id)
    )
    await session.execute(delete(Document).where(Document.id == document_id))


async def delete_chunks(session: AsyncSession, document_id: uuid.UUID) -> None:
    """Remove every chunk of a document."""
    await session.execute(delete(Chunk).where(Chunk.document_id == document_id))


async def insert_chunks(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk-insert chunk rows (executemany)."""
    for start in range(0, len(rows), 500):
        await session.execute(insert(Chunk), list(rows[start : start + 500]))


async def list_chunks(
    session: AsyncSession,
    *,
    document_id: uuid.UUID,
    page: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Chunk], int]:
    """A document's chunks in reading order."""
    query = select(Chunk).where(Chunk.document_id == document_id)
    if page is not None:
        query = query.where(Chunk.page == page)
    return await paginate(session, query, order_by=[Chunk.position], limit=limit, offset=offset)


async def chunk_texts(session: AsyncSession, document_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """(id, text) of a document's chunks in order."""
    rows = await session.execute(
        select(Chunk.id, Chunk.text)
        .where(Chunk.document_id == document_id)
        .order_by(Chunk.position)
    )
    return [(r[0], r[1]) for r in rows.all()]


async def set_embeddings(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Replace vectors by chunk id: rows of {id, embedding, embedding_model, embedding_dim}."""
    for start in range(0, len(rows), 500):
        # ORM bulk UPDATE by primary key (executemany).
        await session.execute(update(Chunk), list(rows[start : start + 500]))


async def stale_document_ids(session: AsyncSession, *, model: str, limit: int) -> list[uuid.UUID]:
    """Ready documents whose vectors were made by another embedding model."""
    rows = await session.scalars(
        select(Document.id)
        .where(
            Document.status == DocumentStatus.ready,
            Document.chunk_count > 0,
            or_(Document.embedding_model.is_(None), Document.embedding_model != model),
        )
        .order_by(Document.id)
        .limit(limit)
    )
    return list(rows)


async def counts(session: AsyncSession) -> tuple[int, int]:
    """(documents, chunks) platform-wide."""
    documents = await session.scalar(select(func.count()).select_from(Document))
    chunks = await session.scalar(select(func.count()).select_from(Chunk))
    return int(documents or 0), int(chunks or 0)


async def course_documents(
    session: AsyncSession, course_id: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    """(id, storage_key) of every document of a course."""
    rows = await session.execute(
        select(Document.id, Document.storage_key).where(Document.course_id == course_id)
    )
    return [(r[0], r[1]) for r in rows.all()]


async def delete_course_data(session: AsyncSession, course_id: uuid.UUID) -> None:
    """Remove a course's documents, chunks, library links and index version."""
    await session.execute(delete(Chunk).where(Chunk.course_id == course_id))
    await session.execute(delete(Document).where(Document.course_id == course_id))
    await session.execute(delete(CourseLibraryLink).where(CourseLibraryLink.course_id == course_id))
    await session.execute(delete(Collection).where(Collection.key == f"course:{course_id}"))


# ---------------------------------------------------------------------------- index versions


async def bump_version(session: AsyncSession, key: str) -> None:
    """Increment a collection's index version (creating it at 2: 1 is "never changed")."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    statement = insert(Collection).values(key=key, index_version=2, updated_at=now)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"index_version": Collection.index_version + 1, "updated_at": now},
        )
    )


async def versions(session: AsyncSession, keys: Sequence[str]) -> dict[str, int]:
    """Index versions of the given collections (1 for those never changed)."""
    rows = await session.execute(
        select(Collection.key, Collection.index_version).where(Collection.key.in_(keys))
    )
    found = {r[0]: int(r[1]) for r in rows.all()}
    return {key: found.get(key, 1) for key in keys}


@dataclass(frozen=True, slots=True)
class ChunkRow:
    id: uuid.UUID
    document_id: uuid.UUID
    page: int | None
    page_label: str | None
    heading: str | None
    text: str
    embedding: bytes
    embedding_model: str
    embedding_dim: int


async def collection_chunks(
    session: AsyncSession, *, course_id: uuid.UUID | None, document_id: uuid.UUID | None
) -> list[ChunkRow]:
    """Every chunk of one collection: a course's own documents, or one library document.

    The scope is in the WHERE clause, so nothing outside the collection is ever loaded.
    """
    if course_id is not None:
        scope = Chunk.course_id == course_id
    elif document_id is not None:
        scope = and_(Chunk.document_id == document_id, Chunk.course_id.is_(None))
    else:
        raise ValueError("a collection is a course or a library document")
    rows = await session.execute(
        select(
            Chunk.id,
            Chunk.document_id,
            Chunk.page,
            Chunk.page_label,
            Chunk.heading,
            Chunk.text,
            Chunk.embedding,
            Chunk.embedding_model,
            Chunk.embedding_dim,
        )
        .where(scope)
        .order_by(Chunk.document_id, Chunk.position)
    )
    return [ChunkRow(*r) for r in rows.all()]


async def library_document_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Shared-library documents that have chunks."""
    rows = await session.scalars(
        select(Document.id)
        .where(Document.course_id.is_(None), Document.chunk_count > 0)
        .order_by(Document.id)
    )
    return list(rows)


async def titles(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Current titles of documents by id."""
    if not ids:
        return {}
    rows = await session.execute(select(Document.id, Document.title).where(Document.id.in_(ids)))
    return {r[0]: r[1] for r in rows.all()}


# ---------------------------------------------------------------------------- course library


async def linked_documents(session: AsyncSession, course_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the library documents linked to a course."""
    rows = await session.scalars(
        select(CourseLibraryLink.document_id)
        .where(CourseLibraryLink.course_id == course_id)
        .order_by(CourseLibraryLink.created_at, CourseLibraryLink.document_id)
    )
    return list(rows)


async def existing_library_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these ids are shared-library documents."""
    if not ids:
        return set()
    rows = await session.scalars(
        select(Document.id).where(Document.id.in_(ids), Document.course_id.is_(None))
    )
    return set(rows)


async def replace_links(
    session: AsyncSession, course_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> None:
    """Make the course's linked library documents exactly `ids`."""
    await session.execute(delete(CourseLibraryLink).where(CourseLibraryLink.course_id == course_id))
    now = utcnow()
    for document_id in ids:
        session.add(CourseLibraryLink(course_id=course_id, document_id=document_id, created_at=now))
    await session.flush()


# ---------------------------------------------------------------------------- library browsing


@dataclass(frozen=True)
class LibraryFilter:
    """Which ready library documents to browse: each given field must match (in any case)."""

    level: str | None = None
    subject: str | None = None
    language: str | None = None


def _library(shelf: LibraryFilter) -> Select[Any]:
    query = select(Document).where(
        Document.course_id.is_(None), Document.status == DocumentStatus.ready
    )
    for column, value in (
        (Document.level, shelf.level),
        (Document.subject, shelf.subject),
        (Document.language, shelf.language),
    ):
        if value is not None:
            query = query.where(func.lower(column) == value.lower())
    return query


async def library_facets(
    session: AsyncSession, shelf: LibraryFilter
) -> list[tuple[str | None, str | None, str | None, int]]:
    """(subject, level, language, count) of ready library documents."""
    base = _library(shelf).subquery()
    rows = await session.execute(
        select(base.c.subject, base.c.level, base.c.language, func.count()).group_by(
            base.c.subject, base.c.level, base.c.language
        )
    )
    return [(r[0], r[1], r[2], int(r[3])) for r in rows.all()]


async def list_textbooks(
    session: AsyncSession, shelf: LibraryFilter, *, search: str | None, limit: int, offset: int
) -> tuple[list[Document], int]:
    """Ready library documents matching the filter and whose title holds `search`, by title."""
    query = _library(shelf)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Document.title.ilike(f"%{escaped}%", escape="\\"))
    return await paginate(
        session, query, order_by=[Document.title, Document.id], limit=limit, offset=offset
    )


async def chunk_outline(
    session: AsyncSession, document_id: uuid.UUID
) -> list[tuple[int, int | None, str | None, str | None]]:
    """(position, page, page_label, heading) of a document's chunks in order (no text)."""
    rows = await session.execute(
        select(Chunk.position, Chunk.page, Chunk.page_label, Chunk.heading)
        .where(Chunk.document_id == document_id)
        .order_by(Chunk.position)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows.all()]


# ---------------------------------------------------------------------------- sources


async def get_source(session: AsyncSession, source_id: uuid.UUID) -> Source | None:
    """A source by id."""
    return await session.get(Source, source_id)


async def list_sources(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[Source], int]:
    """Sources, newest first."""
    return await paginate(
        session, select(Source), order_by=newest_first(Source), limit=limit, offset=offset
    )


async def sources_named(session: AsyncSession, name: str) -> list[Source]:
    """Sources with this name, the oldest first."""
    query = select(Source).where(Source.name == name).order_by(Source.created_at, Source.id)
    return list((await session.scalars(query)).all())


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> SyncRun | None:
    """A sync run by id."""
    return await session.get(SyncRun, run_id)


async def list_runs(
    session: AsyncSession, *, source_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[SyncRun], int]:
    """A source's runs (every source's when None), newest first."""
    query = where_given(select(SyncRun), (SyncRun.source_id, source_id))
    return await paginate(
        session, query, order_by=newest_first(SyncRun), limit=limit, offset=offset
    )


async def references_by_url(
    session: AsyncSession, *, source_id: uuid.UUID, urls: Sequence[str]
) -> dict[str, Reference]:
    """A source's references among these URLs."""
    found: dict[str, Reference] = {}
    for start in range(0, len(urls), 500):
        rows = await session.scalars(
            select(Reference).where(
                Reference.source_id == source_id, Reference.url.in_(urls[start : start + 500])
            )
        )
        found.update({r.url: r for r in rows})
    return found


async def follow_document(
    session: AsyncSession,
    document_id: uuid.UUID,
    *,
    status: ReferenceStatus,
    error: str | None = None,
) -> None:
    """Give the references made into this document the document's outcome."""
    await session.execute(
        update(Reference)
        .where(Reference.document_id == document_id)
        .values(status=status, error=error)
    )


async def forget_document(session: AsyncSession, document_id: uuid.UUID) -> None:
    """References whose document is deleted become new again (they can be ingested anew)."""
    await session.execute(
        update(Reference)
        .where(Reference.document_id == document_id)
        .values(status=ReferenceStatus.new, document_id=None, error=None)
    )


async def get_reference(session: AsyncSession, reference_id: uuid.UUID) -> Reference | None:
    """A reference by id."""
    return await session.get(Reference, reference_id)


async def list_references(
    session: AsyncSession,
    *,
    source_id: uuid.UUID | None,
    status: ReferenceStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[Reference], int]:
    """Discovered references, newest first."""
    query = where_given(
        select(Reference), (Reference.source_id, source_id), (Reference.status, status)
    )
    return await paginate(
        session, query, order_by=newest_first(Reference), limit=limit, offset=offset
    )
