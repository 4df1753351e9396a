"""Approximate nearest-neighbour search over a collection's vectors (usearch HNSW).

Why usearch: measured on this 2-core machine beside faiss-cpu and hnswlib (100k unit vectors,
384-d, clustered like embeddings, one thread): faiss' HNSW queried a little faster, but it cannot
remove a vector, and hnswlib ships no wheel for CPython 3.11 (it compiles from source). usearch
removes by key, keeps 64-bit keys of our choosing and saves/restores an index as one file.

How it is used (see `AnnRegistry.prepare`): every built `HybridIndex` of a large enough
collection gets a `VectorAnn`, which maps ANN keys back to that index's rows. The usearch graph
itself lives on between versions of the collection, per process: a new version copies the last
graph and applies only the difference (chunks added, chunks removed), so chunks arriving in a
collection cost their own insertion, not a rebuild. The graph is saved under
DATA_DIR/ann/ after each change, so a restarted process starts from the file and applies only
what changed since. Large differences (the first build of a big collection) are applied in a
background thread; exact search answers until the graph is ready.

Correctness never depends on the graph being current: a key the graph returns that is not a row
of the index being searched (a chunk deleted since, or added by a newer version) is dropped, and
the cosines of the candidates are computed exactly from the index's own vectors. So a deleted
chunk is never returned, whatever a file or another thread holds.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import structlog
from usearch.index import Index

log = structlog.get_logger(__name__)

__all__ = ["AnnRegistry", "VectorAnn", "ann_keys"]

# HNSW parameters. Hybrid search asks the graph for its top 100 (the fusion depth), and the
# fused top 10 equals exact search's only when those 100 are right: at 100 asked, an expansion
# of 64 found 99.2% of them on clustered vectors, 256 all. 200 (twice the depth) is the measured
# compromise; recall@10 and latency at 100k are in bench/RESULTS.md (bench/retrieval_speed.py).
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 200
# Differences up to this many vectors are applied while the search waits (a document's chunks:
# tens of milliseconds); larger ones in the background, exact search answering meanwhile.
INLINE_ADDS = 2_000
_MASK63 = np.uint64((1 << 63) - 1)


def ann_keys(ids: Sequence[uuid.UUID]) -> npt.NDArray[np.uint64]:
    """63-bit ANN keys of chunk ids: the two halves of the UUID xor-ed.

    UUIDv7's first half is mostly a timestamp (equal for chunks made in the same millisecond);
    the xor carries its random second half into every key.
    """
    if not ids:
        return np.zeros(0, dtype=np.uint64)
    halves = np.frombuffer(b"".join(i.bytes for i in ids), dtype=">u8").reshape(-1, 2)
    keys: npt.NDArray[np.uint64] = (halves[:, 0] ^ halves[:, 1]) & _MASK63
    return keys.astype(np.uint64)


class VectorAnn:
    """The ANN view of one immutable index: its rows' keys, and the graph once it is ready."""

    def __init__(self, keys: npt.NDArray[np.uint64]) -> None:
        order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[order]
        self._rows_of_sorted = order.astype(np.int64)
        self.keys = keys
        self._graph: Index | None = None

    @property
    def ready(self) -> bool:
        """True once a graph holding every key of the index is attached."""
        return self._graph is not None

    def attach(self, graph: Index) -> None:
        self._graph = graph

    def rows(self, query: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.int64] | None:
        """Rows of the (about) `count` nearest vectors, or None while the graph is not ready."""
        graph = self._graph
        if graph is None:
            return None
        # Keys of other versions in the graph (at most the difference between them) would take
        # places in the answer: ask for that many more.
        extra = max(0, len(graph) - len(self.keys))
        wanted = min(count + extra, len(graph))
        if wanted <= 0:
            return np.zeros(0, dtype=np.int64)
        found = np.asarray(graph.search(query, wanted, threads=1).keys, dtype=np.uint64)
        at = np.searchsorted(self._sorted_keys, found)
        at[at >= len(self._sorted_keys)] = 0
        hit = self._sorted_keys[at] == found
        rows: npt.NDArray[np.int64] = self._rows_of_sorted[at[hit]][:count]
        return rows


def _new_graph(dimension: int) -> Index:
    return Index(
        ndim=dimension,
        metric="ip",
        dtype="f32",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


class _Collection:
    """A collection's latest graph in this process, and the newest view waiting for one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.graph: Index | None = None
        # Re-entrant: the inline path advances the graph while holding it.
        self.lock = threading.RLock()
        self.wanted: tuple[VectorAnn, npt.NDArray[np.float32]] | None = None
        self.worker: threading.Thread | None = None


class AnnRegistry:
    """Per-process graphs of the collections searched, persisted under a directory."""

    def __init__(self, directory: Path | None, *, inline_adds: int = INLINE_ADDS) -> None:
        self.directory = directory
        self.inline_adds = inline_adds
        self._collections: dict[str, _Collection] = {}
        self._lock = threading.Lock()
        self.background_builds = 0

    def clear(self) -> None:
        """Forget every in-memory graph (files stay)."""
        with self._lock:
            self._collections.clear()

    def prepare(
        self, name: str, keys: npt.NDArray[np.uint64], vectors: npt.NDArray[np.float32]
    ) -> VectorAnn | None:
        """The ANN view for an index of these rows (None: exact search is used for it).

        `name` identifies the collection and the embedding model; `vectors` are unit rows.
        Called from a build thread, never on the event loop.
        """
        if vectors.ndim != 2 or not len(keys):
            return None
        if np.unique(keys).size != keys.size:
            # Two chunk ids with one 63-bit key: astronomically rare; exact search stays right.
            log.warning("ann_key_collision", collection=name)
            return None
        view = VectorAnn(keys)
        collection = self._collection(name)
        with collection.lock:
            collection.wanted = (view, vectors)
            busy = collection.worker is not None and collection.worker.is_alive()
            if not busy:
                base = self._base(collection, vectors.shape[1])
                adds = int(np.count_nonzero(~_contains(base, keys)))
                if adds <= self.inline_adds:
                    self._advance(collection, base)
                    return view
                collection.worker = threading.Thread(
                    target=self._background, args=(collection,), daemon=True, name="ann-build"
                )
                collection.worker.start()
        return view

    def wait(self, timeout: float | None = None) -> None:
        """Wait for background builds (tests and benchmarks)."""
        with self._lock:
            workers = [c.worker for c in self._collections.values() if c.worker is not None]
        for worker in workers:
            worker.join(timeout)

    # --- internals ---------------------------------------------------------------------
    def _collection(self, name: str) -> _Collection:
        with self._lock:
            found = self._collections.get(name)
            if found is None:
                digest = hashlib.sha256(name.encode()).hexdigest()[:32]
                directory = self.directory or Path(os.devnull)
                found = self._collections[name] = _Collection(directory / f"{digest}.usearch")
            return found

    def _base(self, collection: _Collection, dimension: int) -> Index:
        """The graph to start from: this process' latest, else the saved file, else a new one."""
        if collection.graph is not None and collection.graph.ndim == dimension:
            return collection.graph
        if self.directory is not None and collection.path.is_file():
            try:
                restored = Index.restore(str(collection.path))
            except Exception as exc:  # a torn or foreign file: start over, never fail search
                log.warning("ann_file_unreadable", path=str(collection.path), error=str(exc))
            else:
                if restored is not None and restored.ndim == dimension:
                    # The file keeps the expansion it was saved with (usearch types the setter
                    # wrongly for mypy: it exists and works).
                    restored.expansion_search = EXPANSION_SEARCH  # type: ignore[misc]
                    collection.graph = restored
                    return restored
        return _new_graph(dimension)

    def _background(self, collection: _Collection) -> None:
        self.background_builds += 1
        try:
            while True:
                with collection.lock:
                    wanted = collection.wanted
                    base = (
                        self._base(collection, wanted[1].shape[1]) if wanted is not None else None
                    )
                if wanted is None or base is None:
                    return
                self._advance(collection, base, threads=0)
                with collection.lock:
                    if collection.wanted is None:
                        return
        except Exception:
            log.exception("ann_build_failed", path=str(collection.path))

    def _advance(self, collection: _Collection, base: Index, *, threads: int = 1) -> None:
        """Bring a copy of `base` to the wanted view's keys, attach it, save it."""
        wanted = collection.wanted
        if wanted is None:
            return
        view, vectors = wanted
        present = np.asarray(base.keys, dtype=np.uint64) if len(base) else np.zeros(0, np.uint64)
        gone = present[~np.isin(present, view.keys)]
        new_rows = np.flatnonzero(~_contains(base, view.keys))
        if not gone.size and not new_rows.size and base is collection.graph:
            graph = base  # nothing changed: the graph is shared, never written to again
        else:
            # Copy on write: the graph attached to an older view stays as it was, so searches
            # running on it are never disturbed by this update.
            graph = base.copy() if base is collection.graph else base
            if gone.size:
                graph.remove(gone)
            if new_rows.size:
                graph.add(view.keys[new_rows], vectors[new_rows], threads=threads)
            self._save(collection, graph)
        with collection.lock:
            collection.graph = graph
            if collection.wanted is not None and collection.wanted[0] is view:
                collection.wanted = None
        view.attach(graph)

    def _save(self, collection: _Collection, graph: Index) -> None:
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Several processes may save the same collection: each writes its own file and
            # renames it over the last (atomic), so a reader never sees half a graph.
            temporary = collection.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            graph.save(str(temporary))
            os.replace(temporary, collection.path)
        except OSError as exc:  # a full disk costs the next restart a rebuild, not a search
            log.warning("ann_save_failed", path=str(collection.path), error=str(exc))


def _contains(graph: Index, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    if not len(graph) or not keys.size:
        return np.zeros(keys.size, dtype=np.bool_)
    found: npt.NDArray[np.bool_] = np.asarray(graph.contains(keys), dtype=np.bool_)
    return found
