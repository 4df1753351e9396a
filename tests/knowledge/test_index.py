"""Hybrid index: tokenizer, BM25 against a reference implementation, cosine, fusions, merge, speed."""

from __future__ import annotations

import math
import uuid
from collections import Counter

import numpy as np
import pytest

from studyhall.knowledge.index import (
    STOPWORDS,
    BM25Params,
    HybridIndex,
    reciprocal_rank_fusion,
    search_many,
    tokenize,
)

DOCS = [
    "Photosynthesis converts light energy into chemical energy in the chloroplast.",
    "The mitochondria produce ATP through cellular respiration.",
    "Newton's second law: force equals mass times acceleration.",
    "La física estudia la energía, la materia y el movimiento.",
    "Energy is conserved: it changes form but is neither created nor destroyed.",
    "Plants absorb light with chlorophyll; light energy drives photosynthesis.",
    "الطاقة الشمسية مصدر مهم للطاقة في المدرسة",
    "Acceleration is the rate of change of velocity over time.",
]


def reference_bm25(docs: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> list[float]:
    """Textbook Okapi BM25 (Lucene's idf), written independently of the index."""
    tokenized = [tokenize(d) for d in docs]
    n = len(docs)
    avgdl = sum(len(t) for t in tokenized) / n
    df = Counter(term for tokens in tokenized for term in set(tokens))
    scores = []
    for tokens in tokenized:
        tf = Counter(tokens)
        score = 0.0
        for term in set(tokenize(query)):
            if term not in tf:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * len(tokens) / avgdl))
        scores.append(score)
    return scores


def random_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# --- tokenizer ---------------------------------------------------------------------------------


def test_tokenizer_folds_case_accents_and_drops_stopwords() -> None:
    assert tokenize("La FÍSICA de la Energía, naïve café!") == [
        "fisica",
        "energia",
        "naive",
        "cafe",
    ]
    assert tokenize("The rate of change of velocity") == ["rate", "change", "velocity"]
    assert tokenize("Straße ΣΊΣΥΦΟΣ") == ["strasse", "σισυφοσ"]
    assert tokenize("x_1 = 42 km/h") == ["x", "1", "42", "km", "h"]
    assert tokenize("cells processes bodies boxes gas class virus") == [
        "cell",
        "process",
        "body",
        "box",
        "gas",
        "class",
        "virus",
    ]
    assert tokenize("células procesos") == ["celula", "proceso"]
    assert tokenize("") == [] and tokenize("the of and") == []
    assert all(tokenize(word) == [] for word in ("the", "Les", "LOS", "und", "في"))
    assert "tambien" in STOPWORDS  # stored accent-free, like tokens


def test_tokenizer_handles_arabic_and_cjk() -> None:
    # Harakat, alef forms and ta marbuta are folded so spelling variants match.
    assert tokenize("المَدْرَسَةُ") == tokenize("المدرسه")
    assert tokenize("أحمد إلى") == ["احمد"]  # "إلى" is a stopword once folded
    assert tokenize("東京大学") == ["東京", "京大", "大学"]
    assert tokenize("で") == ["で"]  # voiced kana survive the accent stripping


# --- BM25 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["light energy", "energía física", "acceleration velocity"])
def test_bm25_matches_the_reference(query: str) -> None:
    index = HybridIndex.build(list(range(len(DOCS))), DOCS, None)
    expected = reference_bm25(DOCS, query)
    results = index.search(query, k=len(DOCS), mode="bm25")
    ranked = sorted(((i, s) for i, s in enumerate(expected) if s > 0), key=lambda x: (-x[1], x[0]))
    assert [i for i, _ in results] == [i for i, _ in ranked]
    for (_, got), (_, want) in zip(results, ranked, strict=True):
        assert got == pytest.approx(want, rel=1e-5)


def zipf_corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts and queries of Zipf-distributed words, of varied lengths: common words are in
    nearly every text (the postings the pruned top-k skips), rare ones in a few, and equal
    scores are frequent (the ties at the cut)."""
    rng = np.random.default_rng(seed)
    texts = [
        " ".join(f"w{r % 5000}" for r in rng.zipf(1.3, size=int(rng.integers(5, 120))))
        for _ in range(n)
    ]
    queries = [" ".join(f"w{r % 5000}" for r in rng.zipf(1.3, size=6)) for _ in range(150)]
    queries += ["w1 w2", "w1", "w4999 w1", "w2 w3 w4 w5 w6 w7 w8"]
    return texts, queries


def whole_bm25_top(
    indexes: list[HybridIndex[int]], query: str, limit: int
) -> list[tuple[int, float]]:
    """Every chunk of every index scored (pooled statistics), ranked by score then position."""
    terms = sorted(set(tokenize(query)))
    total = sum(len(ix) for ix in indexes)
    avgdl = sum(float(ix._doc_len.sum()) for ix in indexes) / total
    dfs = [sum(ix._term_df(t) for ix in indexes) for t in terms]
    idf = [float(np.log(1.0 + (total - df + 0.5) / (df + 0.5))) for df in dfs]
    scored = []
    for number, ix in enumerate(indexes):
        scores = ix._bm25_scores(terms, idf, avgdl)
        if scores is not None:
            scored += [(number, row, scores[row]) for row in np.flatnonzero(scores > 0).tolist()]
    scored.sort(key=lambda x: (-x[2], x[0], x[1]))
    return [(indexes[o].chunk_ids[r], float(s)) for o, r, s in scored[:limit]]


@pytest.mark.parametrize("limit", [1, 10, 100])
def test_pruned_bm25_top_equals_scoring_every_chunk(limit: int) -> None:
    texts, queries = zipf_corpus(3000, seed=limit)
    ids = list(range(len(texts)))
    whole = HybridIndex.build(ids, texts, None)
    parts = [HybridIndex.build(ids[a:b], texts[a:b], None) for a, b in ((0, 700), (700, 3000))]
    pruned = 0
    for query in queries:
        # Same chunks, same order, the same float32 scores (not approximately).
        assert whole.search(query, k=limit, mode="bm25") == whole_bm25_top([whole], query, limit)
        assert search_many(parts, query, k=limit, mode="bm25") == whole_bm25_top(
            parts, query, limit
        )
        matching = len(whole_bm25_top([whole], query, len(texts)))
        pruned += matching > 2 * limit
    assert pruned > len(queries) // 2  # most queries match far more chunks than are kept


def test_bm25_parameters_are_used() -> None:
    params = BM25Params(k1=2.0, b=0.3)
    index = HybridIndex.build(list(range(len(DOCS))), DOCS, None, params=params)
    expected = reference_bm25(DOCS, "light energy", k1=2.0, b=0.3)
    scores = dict(index.search("light energy", k=10, mode="bm25"))
    assert scores == {i: pytest.approx(s, rel=1e-5) for i, s in enumerate(expected) if s > 0}


def test_bm25_finds_accented_and_arabic_text() -> None:
    index = HybridIndex.build(list(range(len(DOCS))), DOCS, None)
    assert index.search("FISICA energia", k=1, mode="bm25")[0][0] == 3
    assert index.search("الطاقة", k=1, mode="bm25")[0][0] == 6
    assert index.search("unrelated zebra", k=5, mode="bm25") == []
    assert index.search("the of", k=5, mode="bm25") == []


# --- vectors and fusion ------------------------------------------------------------------------


def test_vector_search_is_exact_cosine() -> None:
    vectors = random_vectors(500, seed=1)
    index = HybridIndex.build([f"c{i}" for i in range(500)], ["x"] * 500, vectors * 3.0)
    query = random_vectors(1, seed=2)[0]
    results = index.search("", query * 7.0, k=10, mode="vector")
    expected = np.argsort(-(vectors @ query), kind="stable")[:10]
    assert [cid for cid, _ in results] == [f"c{i}" for i in expected]
    assert [s for _, s in results] == pytest.approx((vectors @ query)[expected].tolist(), abs=1e-5)


def test_hybrid_is_reciprocal_rank_fusion_of_both_rankings() -> None:
    vectors = random_vectors(len(DOCS), seed=3)
    index = HybridIndex.build(list(range(len(DOCS))), DOCS, vectors)
    query = random_vectors(1, seed=4)[0]
    lexical = [i for i, _ in index.search("light energy", k=50, mode="bm25")]
    semantic = [i for i, _ in index.search("", query, k=50, mode="vector")]
    fused = search_many(
        [index],
        "light energy",
        query,
        k=5,
        mode="hybrid",
        fusion="rrf",
        weights=(1.0, 2.0),
        rrf_k=60,
    )
    expected: dict[int, float] = {}
    for rank, item in enumerate(lexical, 1):
        expected[item] = expected.get(item, 0) + 1.0 / (60 + rank)
    for rank, item in enumerate(semantic, 1):
        expected[item] = expected.get(item, 0) + 2.0 / (60 + rank)
    best = sorted(expected.items(), key=lambda kv: -kv[1])[:5]
    assert [i for i, _ in fused] == [i for i, _ in best]
    assert [s for _, s in fused] == pytest.approx([s for _, s in best])


def test_default_hybrid_adds_standard_scores_of_both_lists() -> None:
    vectors = random_vectors(len(DOCS), seed=12)
    index = HybridIndex.build(list(range(len(DOCS))), DOCS, vectors)
    query = random_vectors(1, seed=13)[0]
    bm25 = dict(index.search("light energy", k=50, mode="bm25"))
    cosine = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
    # BM25 lists every chunk it matches (fewer than the depth): an unlisted chunk's score is 0.
    listed = np.array(list(bm25.values()))
    spread = max(listed.std(), 0.1 * listed.mean())
    z_bm25 = {c: (bm25.get(c, 0.0) - listed.mean()) / spread for c in range(len(DOCS))}
    z_cosine = (cosine - cosine.mean()) / cosine.std()  # the vector list holds every chunk
    expected = sorted(
        ((c, 0.3 * z_bm25[c] + 0.7 * z_cosine[c]) for c in range(len(DOCS))),
        key=lambda kv: (-kv[1], kv[0]),
    )[:5]
    fused = search_many([index], "light energy", query, k=5, lexical_share=0.3)
    assert [i for i, _ in fused] == [i for i, _ in expected]
    assert [s for _, s in fused] == pytest.approx([s for _, s in expected], abs=1e-5)


def test_a_clear_bm25_winner_keeps_its_place_and_a_close_call_goes_to_the_vectors() -> None:
    # Thirty chunks share one common word with the question; the vectors prefer chunk 1.
    ask = "quantum tunnelling barrier electron"
    others = [f"electron topic {i}" for i in range(30)]
    vectors = random_vectors(32, seed=14)
    query = vectors[1] + 0.3 * vectors[0]
    clear = HybridIndex.build(list(range(32)), [ask, "electron", *others], vectors)
    close = HybridIndex.build(list(range(32)), [ask, f"{ask} note", *others], vectors)
    for index in (clear, close):
        assert [i for i, _ in index.search(ask, k=1, mode="bm25")] == [0]
        assert [i for i, _ in index.search(ask, query, k=1, mode="vector")] == [1]
    # Chunk 0 holds every rare word of the question, chunk 1 only the common one: BM25's lead
    # stands far above the rest of its list and holds.
    assert clear.search(ask, query, k=1)[0][0] == 0
    # Both hold every word, chunk 1 is a word longer: BM25's lead is a hair, the cosine decides.
    assert close.search(ask, query, k=1)[0][0] == 1


def test_linear_fusion_is_a_convex_combination_of_scaled_scores() -> None:
    vectors = random_vectors(len(DOCS), seed=5)
    index = HybridIndex.build(list(range(len(DOCS))), DOCS, vectors)
    query = random_vectors(1, seed=6)[0]
    bm25 = dict(index.search("light energy", k=50, mode="bm25"))
    cosine = vectors @ query
    candidates = sorted(set(bm25) | set(range(len(DOCS))))  # depth covers the whole corpus
    lexical = np.array([bm25.get(c, 0.0) for c in candidates])
    semantic = np.array([cosine[c] for c in candidates])
    scale = lambda x: (x - x.min()) / (x.max() - x.min())  # noqa: E731
    combined = 0.3 * scale(lexical) + 0.7 * scale(semantic)
    expected = sorted(zip(candidates, combined, strict=True), key=lambda kv: (-kv[1], kv[0]))[:5]
    fused = search_many([index], "light energy", query, k=5, fusion="linear", alpha=0.3)
    assert [i for i, _ in fused] == [i for i, _ in expected]
    assert [s for _, s in fused] == pytest.approx([s for _, s in expected], abs=1e-6)
    # alpha=1 is BM25's order, alpha=0 the vectors' order.
    assert [
        i for i, _ in search_many([index], "light energy", query, k=3, fusion="linear", alpha=1.0)
    ] == [i for i, _ in index.search("light energy", k=3, mode="bm25")]
    assert [
        i for i, _ in search_many([index], "light", query, k=3, fusion="linear", alpha=0.0)
    ] == [i for i, _ in index.search("", query, k=3, mode="vector")]
    with pytest.raises(ValueError, match="fusion"):
        index.search("light", query, k=3, fusion="max")  # type: ignore[arg-type]


def test_default_hybrid_surfaces_a_vector_only_match() -> None:
    # Five chunks share the query's words; a paraphrase shares none but is the closest vector.
    # BM25 alone never returns it; the fused ranking puts it right after the lexical matches.
    texts = [f"light energy note {i}" for i in range(5)] + ["photons power leaves"]
    texts += [f"unrelated topic {i}" for i in range(25)]
    vectors = random_vectors(31, seed=10)
    query = vectors[5] + 0.05 * random_vectors(1, seed=11)[0]
    index = HybridIndex.build(list(range(31)), texts, vectors)
    assert 5 not in [i for i, _ in index.search("light energy", k=31, mode="bm25")]
    for fusion in ("zscore", "rrf", "linear"):
        top = [i for i, _ in index.search("light energy", query, k=6, fusion=fusion)]  # type: ignore[arg-type]
        assert 5 in top, fusion


def test_rrf_helper() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    assert [item for item, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_hybrid_degrades_to_bm25_without_vectors() -> None:
    lexical_only = HybridIndex.build(list(range(len(DOCS))), DOCS, None)
    assert lexical_only.dimension is None
    query = random_vectors(1)[0]
    assert lexical_only.search("light", query, k=3) == lexical_only.search(
        "light", k=3, mode="bm25"
    )
    with pytest.raises(ValueError, match="vector search"):
        lexical_only.search("light", query, k=3, mode="vector")
    with_vectors = HybridIndex.build(list(range(len(DOCS))), DOCS, random_vectors(len(DOCS)))
    assert with_vectors.search("light", None, k=3) == with_vectors.search("light", k=3, mode="bm25")
    with pytest.raises(ValueError, match="dimensions"):
        with_vectors.search("light", np.ones(7, dtype=np.float32), k=3, mode="vector")


def test_edge_cases() -> None:
    empty: HybridIndex[str] = HybridIndex.build([], [], np.zeros((0, 32), dtype=np.float32))
    assert len(empty) == 0
    assert empty.search("anything", random_vectors(1)[0], k=5) == []
    index = HybridIndex.build(["a", "b"], ["same text", "same text"], random_vectors(2))
    assert index.search("same", k=0) == []
    assert [cid for cid, _ in index.search("same", k=2, mode="bm25")] == ["a", "b"]  # ties: order
    with pytest.raises(ValueError, match="texts"):
        HybridIndex.build(["a"], [], None)
    with pytest.raises(ValueError, match="shape"):
        HybridIndex.build(["a"], ["x"], np.ones((2, 4)))
    with pytest.raises(ValueError, match="mode"):
        index.search("x", k=1, mode="fuzzy")  # type: ignore[arg-type]


# --- several collections at once ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fusion"),
    [
        ("bm25", "rrf"),
        ("vector", "rrf"),
        ("hybrid", "zscore"),
        ("hybrid", "rrf"),
        ("hybrid", "linear"),
    ],
)
def test_searching_split_indexes_equals_one_index_over_the_union(mode: str, fusion: str) -> None:
    rng = np.random.default_rng(7)
    words = ["energy", "light", "force", "mass", "cell", "atom", "wave", "heat", "field", "charge"]
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 30))) for _ in range(300)]
    ids = [uuid.UUID(int=i) for i in range(300)]
    vectors = random_vectors(300, seed=8)
    whole = HybridIndex.build(ids, texts, vectors)
    parts = [
        HybridIndex.build(ids[a:b], texts[a:b], vectors[a:b])
        for a, b in ((0, 40), (40, 250), (250, 300))
    ]
    query_vector = random_vectors(1, seed=9)[0]
    for query in ("energy light", "charge field heat", "atom"):
        expected = whole.search(query, query_vector, k=15, mode=mode, fusion=fusion)  # type: ignore[arg-type]
        merged = search_many(parts, query, query_vector, k=15, mode=mode, fusion=fusion)  # type: ignore[arg-type]
        assert [cid for cid, _ in merged] == [cid for cid, _ in expected]
        assert [s for _, s in merged] == pytest.approx([s for _, s in expected], rel=1e-5)


def test_search_many_ignores_collections_without_a_match() -> None:
    a = HybridIndex.build(["a1"], ["photosynthesis in plants"], None)
    b = HybridIndex.build(["b1"], ["volcanic eruptions"], None)
    results = search_many([a, b], "volcanic", k=5)
    assert [cid for cid, _ in results] == ["b1"] and results[0][1] > 0
    assert search_many([], "volcanic", k=5) == []
