"""Hybrid search over what a caller may read, from per-collection in-memory indexes.

Collections: `course:<id>` (a course's own documents) and `library:<id>` (one shared-library
document, so a textbook linked to many courses is indexed once). A course's search uses its own
collection plus the library documents linked to it, combined with `search_many` (BM25 statistics
pooled, so the ranking equals one index over the union). Each index is cached under
(collection, index version, embedding model); every search first reads the versions from the
database (one small query), so a replica whose cache is behind rebuilds and all replicas answer
the same right after an upload or a delete.

Large collections (`knowledge.ann_min_chunks` chunks and more) search their vectors through an
approximate nearest-neighbour graph (knowledge/ann.py): kept per process between versions,
updated with only what changed, saved under DATA_DIR/ann so a restart does not rebuild it.

Only chunks of the scope are ever loaded (the filter is in the SQL). Vectors made by another
embedding model than the configured one (a re-index is pending) are never compared with the
query: those chunks take part through BM25 only until `knowledge.reindex` re-embeds them.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.config import EmbeddingSettings, Settings
from studyhall.knowledge import repository
from studyhall.knowledge.ann import AnnRegistry, ann_keys
from studyhall.knowledge.embeddings import Embedder, EmbeddingError, make_embedder
from studyhall.knowledge.index import HybridIndex, search_many

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with what a citation needs."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    document_title: str
    page: int | None
    page_label: str | None
    heading: str | None
    text: str
    score: float


@dataclass(frozen=True, slots=True, eq=False)
class _Meta:
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    page: int | None
    page_label: str | None
    heading: str | None
    text: str


@dataclass(frozen=True, slots=True)
class _Entry:
    version: int
    model: str
    # Chunks embedded with the configured model, and (BM25-only) those awaiting a re-index.
    indexes: tuple[HybridIndex[_Meta], ...]
    size: int


def course_key(course_id: uuid.UUID) -> str:
    """Collection key of a course's own documents."""
    return f"course:{course_id}"


def library_key(document_id: uuid.UUID) -> str:
    """Collection key of one shared-library document."""
    return f"library:{document_id}"


class IndexCache:
    """LRU of built indexes, bounded by the number of chunks they hold."""

    def __init__(self, max_chunks: int) -> None:
        self.max_chunks = max_chunks
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._size = 0
        self.builds = 0
        # Where the graphs of the indexes held here live, to free them with their index.
        self._ann: AnnRegistry | None = None

    def clear(self) -> None:
        """Forget every index."""
        self._entries.clear()
        self._size = 0

    async def get(
        self,
        session: AsyncSession,
        *,
        key: str,
        version: int,
        model: str,
        ann: AnnRegistry | None = None,
        ann_min_chunks: int = 0,
    ) -> _Entry:
        """The index of a collection at this version, built from the database when missing.

        With `ann`, a collection of at least `ann_min_chunks` chunks searches its vectors
        through that registry's graph (smaller ones stay exact: one pass is faster there).
        """
        entry = self._fresh(key, version, model)
        if entry is not None:
            return entry
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._fresh(key, version, model)
            if entry is not None:
                return entry
            self._ann = ann or self._ann
            entry = await _build(
                session,
                key=key,
                version=version,
                model=model,
                ann=ann if ann is not None and ann_min_chunks > 0 else None,
                ann_min_chunks=ann_min_chunks,
            )
            self.builds += 1
            self._put(key, entry)
            return entry

    def _fresh(self, key: str, version: int, model: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version or entry.model != model:
            return None
        self._entries.move_to_end(key)
        return entry

    def _put(self, key: str, entry: _Entry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= old.size
        self._entries[key] = entry
        self._size += entry.size
        while self._size > self.max_chunks and len(self._entries) > 1:
            evicted_key, evicted = self._entries.popitem(last=False)
            self._size -= evicted.size
            if self._ann is not None:
                self._ann.forget(_ann_name(evicted_key, evicted.model))
            lock = self._locks.get(evicted_key)
            if lock is not None and not lock.locked():
                del self._locks[evicted_key]


async def _build(
    session: AsyncSession,
    *,
    key: str,
    version: int,
    model: str,
    ann: AnnRegistry | None,
    ann_min_chunks: int,
) -> _Entry:
    kind, _, raw_id = key.partition(":")
    rows = await repository.collection_chunks(
        session,
        course_id=uuid.UUID(raw_id) if kind == "course" else None,
        document_id=uuid.UUID(raw_id) if kind == "library" else None,
    )
    current = [r for r in rows if r.embedding_model == model]
    stale = [r for r in rows if r.embedding_model != model]

    def build() -> tuple[HybridIndex[_Meta], ...]:
        built: list[HybridIndex[_Meta]] = []
        if current:
            dims = {r.embedding_dim for r in current}
            vectors = (
                np.frombuffer(b"".join(r.embedding for r in current), dtype="<f4").reshape(
                    len(current), dims.pop()
                )
                if len(dims) == 1
                else None  # one model never yields two sizes; if it did, fall back to BM25
            )
            index = HybridIndex.build(
                [_meta(r) for r in current], [r.text for r in current], vectors
            )
            if ann is not None and index.vectors is not None and len(current) >= ann_min_chunks:
                index.use_ann(
                    ann.prepare(
                        _ann_name(key, model), ann_keys([r.id for r in current]), index.vectors
                    )
                )
            built.append(index)
        if stale:
            built.append(
                HybridIndex.build([_meta(r) for r in stale], [r.text for r in stale], None)
            )
        return tuple(built)

    indexes = await asyncio.to_thread(build)
    return _Entry(version=version, model=model, indexes=indexes, size=len(rows))


def _ann_name(key: str, model: str) -> str:
    """A collection's graph is per embedding model (vectors of two models never mix)."""
    return f"{key}|{model}"


def _meta(row: repository.ChunkRow) -> _Meta:
    return _Meta(row.id, row.document_id, row.page, row.page_label, row.heading, row.text)


# One cache per process: every app and worker in it reads the same database.
_cache: IndexCache | None = None
_embedders: dict[str, Embedder] = {}
# One graph registry per data directory (one in production; tests run many apps in a process).
_ann_registries: dict[Path, AnnRegistry] = {}


def index_cache(settings: Settings) -> IndexCache:
    """The process-wide index cache."""
    global _cache
    if _cache is None:
        _cache = IndexCache(settings.knowledge.index_cache_max_chunks)
    return _cache


def ann_registry(settings: Settings) -> AnnRegistry:
    """The process-wide approximate-search graphs of this data directory."""
    directory = settings.data_dir / "ann"
    registry = _ann_registries.get(directory)
    if registry is None:
        registry = _ann_registries[directory] = AnnRegistry(directory)
    return registry


class CachedEmbedder:
    """An embedder that remembers the vectors of recent texts (bounded LRU, per process).

    Ingesting the same file again (a re-run, a retry after a crash, the same PDF in several
    courses) then costs no model time; the vectors are the same ones the model would return.
    """

    def __init__(self, inner: Embedder, max_entries: int) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self._passages: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._queries: OrderedDict[bytes, np.ndarray] = OrderedDict()

    @property
    def name(self) -> str:
        """The wrapped model's name."""
        return self.inner.name

    @property
    def dimension(self) -> int:
        """The wrapped model's vector length."""
        return self.inner.dimension

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

    def _remember(self, store: OrderedDict[bytes, np.ndarray], key: bytes, row: np.ndarray) -> None:
        store[key] = row
        limit = self.max_entries if store is self._passages else max(1, self.max_entries // 20)
        while len(store) > limit:
            store.popitem(last=False)

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages, asking the model only for texts not seen recently."""
        keys = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._passages))
        if missing:
            absent = set(missing)
            wanted = {k: t for k, t in zip(keys, texts, strict=True) if k in absent}
            fresh = await self.inner.embed_passages([wanted[k] for k in missing])
            for key, row in zip(missing, np.asarray(fresh), strict=True):
                self._remember(self._passages, key, row)
        rows = []
        for key in keys:
            self._passages.move_to_end(key)
            rows.append(self._passages[key])
        if not rows:
            return await self.inner.embed_passages([])
        return np.stack(rows).astype(np.float32, copy=False)

    async def embed_query(self, text: str) -> np.ndarray:
        """Embed a query (repeated queries are answered from memory)."""
        key = self._key(text)
        cached = self._queries.get(key)
        if cached is None:
            cached = np.asarray(await self.inner.embed_query(text))
            self._remember(self._queries, key, cached)
        else:
            self._queries.move_to_end(key)
        return cached


def embedder_for(settings: EmbeddingSettings) -> Embedder:
    """The configured embedder, created once per configuration (the model loads once)."""
    fingerprint = hashlib.sha256(settings.model_dump_json().encode()).hexdigest()
    embedder = _embedders.get(fingerprint)
    if embedder is None:
        embedder = make_embedder(
            settings.provider,
            settings.model,
            settings.base_url,
            settings.api_key,
            dimension=settings.dimension,
            threads=settings.threads,
        )
        if settings.cache_entries > 0:
            embedder = CachedEmbedder(embedder, settings.cache_entries)
        _embedders[fingerprint] = embedder
    return embedder


async def search(
    session: AsyncSession,
    *,
    course_id: uuid.UUID | None,
    query: str,
    k: int,
    settings: Settings,
) -> list[Passage]:
    """Hybrid search of a course's scope (its documents + linked library), or the library."""
    if not query.strip() or k <= 0:
        return []
    if course_id is not None:
        library_ids = await repository.linked_documents(session, course_id)
        keys = [course_key(course_id)] + [library_key(d) for d in library_ids]
    else:
        keys = [library_key(d) for d in await repository.library_document_ids(session)]
    if not keys:
        return []
    embedder = embedder_for(settings.embeddings)
    versions = await repository.versions(session, keys)
    cache = index_cache(settings)
    indexes: list[HybridIndex[_Meta]] = []
    for key in keys:
        entry = await cache.get(
            session,
            key=key,
            version=versions[key],
            model=embedder.name,
            ann=ann_registry(settings),
            ann_min_chunks=settings.knowledge.ann_min_chunks,
        )
        indexes.extend(entry.indexes)
    indexes = [ix for ix in indexes if len(ix)]
    if not indexes:
        return []
    vector: np.ndarray | None = None
    try:
        vector = await embedder.embed_query(query)
    except EmbeddingError as exc:
        # The lexical half still answers; a dead embedding endpoint must not take search down.
        log.warning("query_embedding_failed", error=str(exc))
    dims = {ix.dimension for ix in indexes if ix.dimension is not None}
    if vector is not None and dims and dims != {int(np.asarray(vector).shape[-1])}:
        vector = None
    hits = await asyncio.to_thread(search_many, indexes, query, vector, k)
    names = await repository.titles(session, list({meta.document_id for meta, _ in hits}))
    return [
        Passage(
            chunk_id=meta.chunk_id,
            document_id=meta.document_id,
            document_title=names.get(meta.document_id, ""),
            page=meta.page,
            page_label=meta.page_label,
            heading=meta.heading,
            text=meta.text,
            score=round(score, 6),
        )
        for meta, score in hits
        if meta.document_id in names  # deleted meanwhile: the next version drops it anyway
    ]


def encode_vectors(vectors: np.ndarray) -> list[bytes]:
    """Rows as little-endian float32 bytes (how vectors are stored)."""
    matrix = np.ascontiguousarray(vectors, dtype="<f4")
    return [row.tobytes() for row in matrix]


def chunk_keys_for(course_id: uuid.UUID | None, document_id: uuid.UUID) -> str:
    """The collection a document's chunks belong to."""
    return course_key(course_id) if course_id is not None else library_key(document_id)


__all__: Sequence[str] = [
    "IndexCache",
    "Passage",
    "ann_registry",
    "chunk_keys_for",
    "course_key",
    "embedder_for",
    "encode_vectors",
    "index_cache",
    "library_key",
    "search",
]
