"""Approximate nearest-neighbour search over a collection's vectors (faiss HNSW, or an inverted
file from IVF_MIN_VECTORS vectors, whose build takes about a minute where a graph takes an hour).

Why faiss: measured on this 2-core machine beside usearch and hnswlib (unit vectors, 384-d,
clustered like embeddings, one thread per query, the same data and queries interleaved): asked
for the 100 nearest (hybrid search's depth) with an expansion of 200 at 20k vectors, faiss' HNSW
answered in 1.0 ms p50, usearch in 19.7 ms (slower than the exact pass, 18.4 ms, on a loaded
machine); at 100k and lower expansions faiss was 2-4x faster and built its graph faster too.
hnswlib ships no wheel for CPython 3.11 (it compiles from source). faiss' HNSW cannot remove a
vector: a removed chunk stays in the graph as a tombstone that searches skip (an id selector of
the index's own rows), and the graph is rebuilt once tombstones pass a quarter of it. The
inverted file is handled the same way ("graph" below means either).

How it is used (see `AnnRegistry.prepare`): every built `HybridIndex` of a large enough
collection gets a `VectorAnn`, which maps ANN keys back to that index's rows. The faiss graph
itself lives on between versions of the collection, per process: a new version copies the last
graph and applies only the difference (chunks added, chunks removed), so chunks arriving in a
collection cost their own insertion, not a rebuild. The graph is saved under
DATA_DIR/ann/ after each change, so a restarted process starts from the file and applies only
what changed since. Large differences (the first build of a big collection) are applied in a
background thread; exact search answers until the graph is ready.

Correctness never depends on the graph being current: a key the graph holds that is not a row
of the index being searched (a chunk deleted since, or added by a newer version) is skipped by
the search and dropped again from its answer, and the cosines of the candidates are computed
exactly from the index's own vectors. So a deleted chunk is never returned, whatever a file or
another thread holds.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np
import numpy.typing as npt
import structlog

log = structlog.get_logger(__name__)

__all__ = ["AnnRegistry", "VectorAnn", "ann_keys"]

# HNSW parameters. Hybrid search asks the graph for its top 100 (the fusion depth), and the
# fused top 10 equals exact search's only when those 100 are right: at 100 asked, an expansion
# of 64 found 99.2% of them on clustered vectors, 256 all. 200 (twice the depth) is the measured
# compromise; recall@10 and latency at 100k are in bench/RESULTS.md (bench/retrieval_speed.py).
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 200
# Tombstones (removed chunks still in the graph) beyond this share of it: rebuild the graph.
MAX_TOMBSTONES = 0.25
# Differences up to this many vectors are applied while the search waits (a document's chunks:
# tens of milliseconds); larger ones in the background, exact search answering meanwhile.
INLINE_ADDS = 2_000
# Collections of this many vectors or more get an inverted file (IVF-Flat) instead of a graph:
# an HNSW graph took 179-397 s to build at 100k vectors on this 2-core machine (most of an hour
# at 1M), an inverted file trains its coarse quantizer on a sample and files every vector under
# its nearest centroid in about a minute at 1M (bench/RESULTS.md, "BM25 pruning and 1M
# chunks"). Its lists: 2 x sqrt(n) (2,000 at 1M, ~500 vectors each), trained on
# IVF_TRAIN_PER_LIST vectors per list; a search reads the IVF_PROBES lists nearest the query.
IVF_MIN_VECTORS = 200_000
IVF_TRAIN_PER_LIST = 40
IVF_PROBES = 48
# An inverted file grown past this many times the size it was trained for is rebuilt (its lists
# would grow long and its centroids no longer describe the collection).
IVF_MAX_GROWTH = 4.0
_MASK63 = np.uint64((1 << 63) - 1)
Graph = faiss.IndexIDMap2
_HNSW_PARAMETERS: Any = faiss.SearchParametersHNSW  # type: ignore[attr-defined]
_IVF_PARAMETERS: Any = faiss.SearchParametersIVF  # type: ignore[attr-defined]


def ann_keys(ids: Sequence[uuid.UUID]) -> npt.NDArray[np.int64]:
    """63-bit ANN keys of chunk ids: the two halves of the UUID xor-ed.

    UUIDv7's first half is mostly a timestamp (equal for chunks made in the same millisecond);
    the xor carries its random second half into every key.
    """
    if not ids:
        return np.zeros(0, dtype=np.int64)
    halves = np.frombuffer(b"".join(i.bytes for i in ids), dtype=">u8").reshape(-1, 2)
    keys: npt.NDArray[np.int64] = ((halves[:, 0] ^ halves[:, 1]) & _MASK63).astype(np.int64)
    return keys


class VectorAnn:
    """The ANN view of one immutable index: its rows' keys, and the graph once it is ready."""

    def __init__(self, keys: npt.NDArray[np.int64]) -> None:
        order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[order]
        self._rows_of_sorted = order.astype(np.int64)
        self.keys = keys
        self._graph: Graph | None = None
        self._selector: faiss.IDSelector | None = None
        self._inverted = False

    @property
    def ready(self) -> bool:
        """True once a graph holding every key of the index is attached."""
        return self._graph is not None

    def attach(self, graph: Graph) -> None:
        """Search through `graph`, which holds every key of this view (and maybe others)."""
        if graph.ntotal != len(self.keys):
            # Keys that are not rows here (tombstones, a newer version's chunks) are skipped
            # inside the search, so they take no place among the nearest asked for.
            self._selector = faiss.IDSelectorBatch(self.keys)
        self._inverted = _is_inverted(graph)
        self._graph = graph

    def _parameters(self) -> Any:
        # A new object per search: IndexIDMap2 swaps its selector for a translated one during
        # a search, so one object shared by concurrent searches would not be safe.
        selector = {} if self._selector is None else {"sel": self._selector}
        if self._inverted:
            return _IVF_PARAMETERS(nprobe=IVF_PROBES, **selector)
        return _HNSW_PARAMETERS(efSearch=EXPANSION_SEARCH, **selector)

    def rows(self, query: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.int64] | None:
        """Rows of the (about) `count` nearest vectors, or None while the graph is not ready."""
        graph = self._graph
        if graph is None:
            return None
        wanted = min(count, len(self.keys))
        if wanted <= 0:
            return np.zeros(0, dtype=np.int64)
        # One query is one thread's work; without this faiss opens an OpenMP team per calling
        # thread (one thread per core) whose idle members spin against the other requests.
        # The setting is the calling thread's own (OpenMP keeps it per thread).
        faiss.omp_set_num_threads(1)
        _, found = graph.search(query.reshape(1, -1), wanted, params=self._parameters())
        found = found[0][found[0] >= 0]
        at = np.searchsorted(self._sorted_keys, found)
        at[at >= len(self._sorted_keys)] = 0
        hit = self._sorted_keys[at] == found
        rows: npt.NDArray[np.int64] = self._rows_of_sorted[at[hit]]
        return rows


def _new_graph(vectors: npt.NDArray[np.float32], *, threads: int = 1) -> Graph:
    """An empty index for these vectors: an HNSW graph, an inverted file for large ones."""
    dimension = vectors.shape[1]
    if len(vectors) < IVF_MIN_VECTORS:
        hnsw = faiss.IndexHNSWFlat(dimension, CONNECTIVITY, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = EXPANSION_ADD
        hnsw.hnsw.efSearch = EXPANSION_SEARCH
        return faiss.IndexIDMap2(hnsw)
    lists = int(2 * np.sqrt(len(vectors)))
    inverted = faiss.index_factory(dimension, f"IVF{lists},Flat", faiss.METRIC_INNER_PRODUCT)
    # A seeded sample: the same rows give the same centroids in every process.
    sample = np.random.default_rng(0).choice(
        len(vectors), min(len(vectors), IVF_TRAIN_PER_LIST * lists), replace=False
    )
    if threads:
        faiss.omp_set_num_threads(threads)  # this thread's parallel regions only
    inverted.train(vectors[np.sort(sample)])
    return faiss.IndexIDMap2(inverted)


def _is_inverted(graph: Graph) -> bool:
    return isinstance(faiss.downcast_index(graph.index), faiss.IndexIVF)


def _keys_of(graph: Graph | None) -> npt.NDArray[np.int64]:
    if graph is None or not graph.ntotal:
        return np.zeros(0, dtype=np.int64)
    keys: npt.NDArray[np.int64] = faiss.vector_to_array(graph.id_map).astype(np.int64)
    return keys


class _Collection:
    """A collection's latest graph in this process, and the newest view waiting for one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.graph: Graph | None = None
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
        self, name: str, keys: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
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
            if collection.worker is not None:
                return view  # the running build takes this view up when it is done
            try:
                base = self._base(collection, vectors.shape[1])
                adds = int(np.count_nonzero(~np.isin(keys, _keys_of(base))))
                if _worn(base, keys, adds):
                    adds = len(keys)  # built anew from the rows (see _advance)
                if adds <= self.inline_adds:
                    self._advance(collection, base)
                    return view
            except Exception:
                # The view stays without a graph: this version is searched exactly.
                log.exception("ann_update_failed", path=str(collection.path))
                collection.wanted = None
                return view
            collection.worker = threading.Thread(
                target=self._background, args=(collection,), daemon=True, name="ann-build"
            )
            collection.worker.start()
        return view

    def forget(self, name: str) -> None:
        """Drop a collection's graph from memory (its file stays for the next time)."""
        with self._lock:
            self._collections.pop(name, None)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for background builds (tests and benchmarks)."""
        with self._lock:
            workers = [c.worker for c in self._collections.values()]
        for worker in workers:
            if worker is not None:
                worker.join(timeout)

    # --- internals ---------------------------------------------------------------------
    def _collection(self, name: str) -> _Collection:
        with self._lock:
            found = self._collections.get(name)
            if found is None:
                digest = hashlib.sha256(name.encode()).hexdigest()[:32]
                directory = self.directory or Path(os.devnull)
                found = self._collections[name] = _Collection(directory / f"{digest}.faiss")
            return found

    def _base(self, collection: _Collection, dimension: int) -> Graph | None:
        """The graph to start from: this process' latest, else the saved file, else None."""
        if collection.graph is not None and collection.graph.d == dimension:
            return collection.graph
        if self.directory is not None and collection.path.is_file():
            try:
                restored = faiss.read_index(str(collection.path))
            except Exception as exc:  # a torn or foreign file: start over, never fail search
                log.warning("ann_file_unreadable", path=str(collection.path), error=str(exc))
            else:
                if isinstance(restored, Graph) and restored.d == dimension:
                    collection.graph = restored
                    return restored
        return None

    def _background(self, collection: _Collection) -> None:
        self.background_builds += 1
        try:
            while True:
                with collection.lock:
                    wanted = collection.wanted
                    if wanted is None:
                        # Under the lock: a view wanted after this sees no worker, goes inline.
                        collection.worker = None
                        return
                    base = self._base(collection, wanted[1].shape[1])
                # A first build in the background: OpenMP's threads (all cores unless
                # OMP_NUM_THREADS says otherwise); searches meanwhile are exact.
                self._advance(collection, base, threads=0)
        except Exception:
            log.exception("ann_build_failed", path=str(collection.path))
            with collection.lock:
                collection.wanted = None
                collection.worker = None

    def _advance(self, collection: _Collection, base: Graph | None, *, threads: int = 1) -> None:
        """Bring a copy of `base` to the wanted view's keys, attach it, save it."""
        wanted = collection.wanted
        if wanted is None:
            return
        view, vectors = wanted
        new_rows = np.flatnonzero(~np.isin(view.keys, _keys_of(base)))
        if base is None or _worn(base, view.keys, new_rows.size):
            # None yet, too many tombstones or an outgrown inverted file: built from the rows.
            base = _new_graph(vectors, threads=threads)
            new_rows = np.arange(len(view.keys))
        if not new_rows.size and base is collection.graph:
            graph = base  # nothing to add: the graph is shared, never written to again
        else:
            # Copy on write: the graph attached to an older view stays as it was, so searches
            # running on it are never disturbed by this update.
            graph = cast(Graph, faiss.clone_index(base)) if base is collection.graph else base
            if new_rows.size:
                if threads:
                    faiss.omp_set_num_threads(threads)  # this thread's parallel regions only
                graph.add_with_ids(vectors[new_rows], view.keys[new_rows])
            self._save(collection, graph)
        with collection.lock:
            collection.graph = graph
            if collection.wanted is not None and collection.wanted[0] is view:
                collection.wanted = None
        view.attach(graph)

    def _save(self, collection: _Collection, graph: Graph) -> None:
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Several processes may save the same collection: each writes its own file and
            # renames it over the last (atomic), so a reader never sees half a graph.
            temporary = collection.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            faiss.write_index(graph, str(temporary))
            os.replace(temporary, collection.path)
        except (OSError, RuntimeError) as exc:
            # A full disk costs the next restart a rebuild, never a search.
            log.warning("ann_save_failed", path=str(collection.path), error=str(exc))


def _worn(graph: Graph | None, keys: npt.NDArray[np.int64], adds: int) -> bool:
    """True when the graph, brought to these keys, should be built anew: none yet, more than
    MAX_TOMBSTONES dead, or an inverted file grown past IVF_MAX_GROWTH its trained size."""
    if graph is None:
        return True
    total = graph.ntotal + adds
    if total > 0 and (total - len(keys)) > MAX_TOMBSTONES * total:
        return True
    if _is_inverted(graph):
        inverted: Any = faiss.downcast_index(graph.index)
        trained_for = (inverted.nlist / 2) ** 2
        return total > IVF_MAX_GROWTH * trained_for
    return False
