"""Approximate vector search (knowledge/ann.py): same answers as exact search, never a deleted
chunk, a graph saved under the data directory and reused by the next process, and a second
process (its own memory, the same database and data directory) that sees new chunks."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import faiss
import httpx
import numpy as np
import pytest
import uuid_utils

from studyhall.jobs.worker import Worker
from studyhall.knowledge import ann, repository
from studyhall.knowledge.ann import AnnRegistry, VectorAnn, ann_keys
from studyhall.knowledge.index import HybridIndex, search_many
from studyhall.knowledge.retrieval import IndexCache, course_key, embedder_for
from tests.knowledge._fixtures import (
    API,
    CourseSetup,
    Headers,
    course,
    knowledge_routes,
    upload,
    worker,
)
from tests.knowledge._fixtures import search as api_search

__all__ = ["course", "knowledge_routes", "worker"]

DIM = 32
WORDS = [f"w{i}" for i in range(300)]


def corpus(n: int, seed: int = 7) -> tuple[list[uuid.UUID], list[str], np.ndarray]:
    """n chunks: ids, texts and vectors clustered like embeddings (40 topics)."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((40, DIM)).astype(np.float32)
    topic = rng.integers(0, 40, n)
    vectors = topics[topic] + 0.5 * rng.standard_normal((n, DIM)).astype(np.float32)
    texts = [" ".join(rng.choice(WORDS, 12)) for _ in range(n)]
    return [uuid.uuid4() for _ in range(n)], texts, vectors


def queries(count: int, seed: int = 11) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, 3)) for _ in range(count)], rng.standard_normal(
        (count, DIM)
    ).astype(np.float32)


def indexed(
    ids: list[uuid.UUID], texts: list[str], vectors: np.ndarray, registry: AnnRegistry | None
) -> HybridIndex[uuid.UUID]:
    index = HybridIndex.build(ids, texts, vectors)
    if registry is not None:
        assert index.vectors is not None
        index.use_ann(registry.prepare("course:x|model", ann_keys(ids), index.vectors))
    return index


def test_results_equal_exact_search_on_a_small_collection(tmp_path: Path) -> None:
    ids, texts, vectors = corpus(600)
    exact = indexed(ids, texts, vectors, None)
    approximate = indexed(ids, texts, vectors, AnnRegistry(tmp_path))
    assert approximate.ann is not None and approximate.ann.ready
    words, qvecs = queries(25)
    for text, vector in zip(words, qvecs, strict=True):
        for mode in ("vector", "hybrid"):
            assert approximate.search(text, vector, 10, mode) == exact.search(  # type: ignore[arg-type]
                text,
                vector,
                10,
                mode,  # type: ignore[arg-type]
            )
        assert approximate.search(text, vector, 10, fusion="linear") == exact.search(
            text, vector, 10, fusion="linear"
        )


def test_deleted_chunks_are_never_returned(tmp_path: Path) -> None:
    ids, texts, vectors = corpus(400)
    registry = AnnRegistry(tmp_path)
    before = indexed(ids, texts, vectors, registry)
    deleted = set(range(0, 400, 10))  # 10%: kept in the graph as tombstones, skipped
    kept = [i for i in range(400) if i not in deleted]
    after = indexed([ids[i] for i in kept], [texts[i] for i in kept], vectors[kept], registry)
    gone = {ids[i] for i in deleted}
    # Each deleted chunk's own vector as the query: the nearest neighbour in any stale graph.
    for row in sorted(deleted):
        hits = after.search(texts[row], vectors[row], 10, "vector")
        assert len(hits) == 10 and not gone & {chunk for chunk, _ in hits}
        assert not gone & {c for c, _ in after.search(texts[row], vectors[row], 10, "hybrid")}
    # The older version's index still answers as it did (its graph was copied, not changed).
    assert before.search(texts[0], vectors[0], 1, "vector")[0][0] == ids[0]

    # A graph that still holds the deleted chunks (a file saved before the delete, another
    # process' stale copy) is filtered by the index's own rows.
    stale = AnnRegistry(None)
    stale.prepare("c", ann_keys(ids), before.vectors)  # type: ignore[arg-type]
    view = stale.prepare("c", ann_keys(ids), before.vectors)  # type: ignore[arg-type]
    assert view is not None
    survivor = HybridIndex.build([ids[i] for i in kept], [texts[i] for i in kept], vectors[kept])
    filtered = VectorAnn(ann_keys([ids[i] for i in kept]))
    assert view._graph is not None
    filtered.attach(view._graph)
    survivor.use_ann(filtered)
    for row in sorted(deleted)[:30]:
        hits = survivor.search(texts[row], vectors[row], 10, "vector")
        assert len(hits) == 10 and not gone & {chunk for chunk, _ in hits}


def test_a_saved_graph_is_reused_after_a_restart(tmp_path: Path) -> None:
    ids, texts, vectors = corpus(300)
    first = AnnRegistry(tmp_path, inline_adds=50)
    index = indexed(ids, texts, vectors, first)
    # 300 new vectors are more than the inline limit: built in the background, exact meanwhile.
    assert index.ann is not None
    first.wait()
    assert index.ann.ready and first.background_builds == 1
    assert len(list(tmp_path.glob("*.faiss"))) == 1

    # A new process: nothing in memory, the same data directory. The saved graph holds every
    # chunk, so the index is searchable through it at once and nothing is rebuilt.
    restarted = AnnRegistry(tmp_path, inline_adds=50)
    again = indexed(ids, texts, vectors, restarted)
    assert again.ann is not None and again.ann.ready and restarted.background_builds == 0
    words, qvecs = queries(10)
    exact = indexed(ids, texts, vectors, None)
    for text, vector in zip(words, qvecs, strict=True):
        assert again.search(text, vector, 10, "vector") == exact.search(text, vector, 10, "vector")

    # Chunks added since the save are applied on top of the file (a few: inline).
    more_ids, more_texts, more_vectors = corpus(20, seed=99)
    grown = indexed(
        ids + more_ids, texts + more_texts, np.vstack([vectors, more_vectors]), restarted
    )
    assert grown.ann is not None and grown.ann.ready and restarted.background_builds == 0
    assert grown.search(more_texts[3], more_vectors[3], 1, "vector")[0][0] == more_ids[3]


def test_a_torn_file_is_ignored(tmp_path: Path) -> None:
    ids, texts, vectors = corpus(100)
    indexed(ids, texts, vectors, AnnRegistry(tmp_path))
    (saved,) = tmp_path.glob("*.faiss")
    saved.write_bytes(saved.read_bytes()[:1000])
    index = indexed(ids, texts, vectors, AnnRegistry(tmp_path))
    assert index.search(texts[5], vectors[5], 1, "vector")[0][0] == ids[5]


def test_search_many_mixes_exact_and_approximate_indexes(tmp_path: Path) -> None:
    ids, texts, vectors = corpus(500)
    small = indexed(ids[:50], texts[:50], vectors[:50], None)
    large = indexed(ids[50:], texts[50:], vectors[50:], AnnRegistry(tmp_path))
    everything = indexed(ids, texts, vectors, None)
    words, qvecs = queries(10)
    for text, vector in zip(words, qvecs, strict=True):
        assert search_many([small, large], text, vector, 10) == everything.search(text, vector, 10)


async def test_a_second_process_sees_new_chunks_and_deletions(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, worker: Worker, app: Any
) -> None:
    """Two processes: each its own index cache and graphs in memory, one database, one
    DATA_DIR. Every collection goes through the graph (threshold 1)."""
    settings = app.state.settings
    settings.knowledge.ann_min_chunks = 1
    owner = auth(course.teacher)
    first = await upload(client, owner, course.id, b"Tides follow the Moon.", "tides.txt")
    await worker.run_until_idle()
    model = embedder_for(settings.embeddings).name
    key = course_key(uuid.UUID(course.id))
    processes = [(IndexCache(10_000), AnnRegistry(settings.data_dir / "ann")) for _ in range(2)]

    async def top(process: int, query: str) -> list[str]:
        cache, registry = processes[process]
        async with app.state.db.session(write=False) as session:
            version = (await repository.versions(session, [key]))[key]
            entry = await cache.get(
                session, key=key, version=version, model=model, ann=registry, ann_min_chunks=1
            )
        vector = await embedder_for(settings.embeddings).embed_query(query)
        assert all(ix.ann is not None and ix.ann.ready for ix in entry.indexes)
        return [str(meta.document_id) for meta, _ in search_many(entry.indexes, query, vector, 5)]

    for process in (0, 1):
        assert await top(process, "Moon tides") == [first["document"]["id"]]
    # Uploaded once (as through process 0's api); both processes see it on their next search.
    second = await upload(
        client, owner, course.id, b"Enzymes lower activation energy.", "enzymes.txt"
    )
    await worker.run_until_idle()
    for process in (1, 0):
        assert (await top(process, "enzymes activation energy"))[0] == second["document"]["id"]
    # Deleted: neither process returns it, though both graphs held its chunks.
    await client.delete(f"{API}/documents/{second['document']['id']}", headers=owner)
    for process in (0, 1):
        assert second["document"]["id"] not in await top(process, "enzymes activation energy")
    # And through the service itself.
    hits = await api_search(client, owner, course.id, "enzymes activation energy")
    assert second["document"]["id"] not in {h["document_id"] for h in hits}


@pytest.mark.parametrize("n", [0, 1, 5])
def test_keys_are_unique_for_uuid7_ids_made_together(n: int) -> None:
    ids = [uuid.UUID(str(uuid_utils.uuid7())) for _ in range(n * 1000)]
    keys = ann_keys(ids)
    assert keys.size == len(ids) and np.unique(keys).size == keys.size
    assert keys.dtype == np.int64 and (keys >= 0).all()


def test_a_search_through_the_graph_starts_no_thread(tmp_path: Path) -> None:
    """One query runs in the calling thread: no OpenMP team spinning beside the requests."""
    ids, texts, vectors = corpus(300)
    index = indexed(ids, texts, vectors, AnnRegistry(tmp_path))
    counts: list[int] = []

    def search() -> None:
        before = len(os.listdir("/proc/self/task"))
        index.search(texts[0], vectors[0], 10, "vector")
        counts.append(len(os.listdir("/proc/self/task")) - before)

    searcher = threading.Thread(target=search)  # a fresh thread, like asyncio.to_thread's
    searcher.start()
    searcher.join()
    assert counts == [0]


def recall_at_10(approximate: HybridIndex[uuid.UUID], exact: HybridIndex[uuid.UUID]) -> float:
    words, qvecs = queries(40)
    found = 0
    for text, vector in zip(words, qvecs, strict=True):
        truth = {c for c, _ in exact.search(text, vector, 10, "vector")}
        found += len(truth & {c for c, _ in approximate.search(text, vector, 10, "vector")})
    return found / 400


def test_a_large_collection_gets_an_inverted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ann.IVF_MIN_VECTORS (lowered here) an inverted file replaces the graph: trained
    on the first build, then grown and pruned like the graph, saved and reopened."""
    monkeypatch.setattr(ann, "IVF_MIN_VECTORS", 1000)
    ids, texts, vectors = corpus(2000)
    exact = indexed(ids, texts, vectors, None)
    registry = AnnRegistry(tmp_path, inline_adds=5000)
    index = indexed(ids, texts, vectors, registry)
    assert index.ann is not None and index.ann.ready and index.ann._inverted
    assert recall_at_10(index, exact) >= 0.99
    words, qvecs = queries(10)
    for text, vector in zip(words, qvecs, strict=True):
        # The cosines are exact: whatever the candidates, a found chunk scores as exactly.
        assert (
            dict(index.search(text, vector, 10, "vector")).items()
            <= dict(exact.search(text, vector, 50, "vector")).items()
        )

    # A restarted process opens the file: the same trained lists, new chunks filed into them,
    # deleted ones skipped, no rebuild.
    restarted = AnnRegistry(tmp_path, inline_adds=5000)
    more_ids, more_texts, more_vectors = corpus(30, seed=99)
    kept = list(range(100, 2000))
    grown = indexed(
        [ids[i] for i in kept] + more_ids,
        [texts[i] for i in kept] + more_texts,
        np.vstack([vectors[kept], more_vectors]),
        restarted,
    )
    assert grown.ann is not None and grown.ann.ready and grown.ann._inverted
    graph = grown.ann._graph
    assert graph is not None and graph.ntotal == 2030  # the 100 removed stay as tombstones
    assert grown.search(more_texts[3], more_vectors[3], 1, "vector")[0][0] == more_ids[3]
    gone = set(ids[:100])
    for row in range(0, 100, 7):
        hits = grown.search(texts[row], vectors[row], 10, "vector")
        assert len(hits) == 10 and not gone & {chunk for chunk, _ in hits}


def test_an_outgrown_inverted_file_is_trained_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "IVF_MIN_VECTORS", 1000)
    ids, texts, vectors = corpus(5000)
    registry = AnnRegistry(tmp_path, inline_adds=10_000)
    small = indexed(ids[:1000], texts[:1000], vectors[:1000], registry)
    assert small.ann is not None and small.ann._graph is not None
    lists = faiss.downcast_index(small.ann._graph.index).nlist  # 2 x sqrt(1000)
    large = indexed(ids, texts, vectors, registry)  # 5x the size it was trained for
    assert large.ann is not None and large.ann._graph is not None and large.ann._inverted
    assert faiss.downcast_index(large.ann._graph.index).nlist == int(2 * np.sqrt(5000)) > lists
    assert recall_at_10(large, indexed(ids, texts, vectors, None)) >= 0.99
