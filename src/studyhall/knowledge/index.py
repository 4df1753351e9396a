"""In-memory hybrid retrieval over one collection's chunks: BM25 + exact cosine, fused by score.

Everything is numpy, built once per collection version and then read-only (safe to share between
requests and threads). Several collections are searched together with `search_many`, which scores
BM25 with statistics pooled over all of them, so the result is the same as one index built over
the union of their chunks.

Sizes: postings are CSR arrays (int32 doc ids + float32 term frequencies); vectors one float32
matrix. At 100k chunks and 384 dimensions that is ~150 MB of vectors plus ~100 MB of postings.

Vector search is exact (one pass over the matrix) unless the index was given an approximate
nearest-neighbour view (`use_ann`, see knowledge/ann.py): then the graph proposes candidate rows
and their cosines are computed exactly from the matrix, so scores equal exact search's.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from array import array
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from studyhall.knowledge.language import STOPWORDS_BY_LANGUAGE, Language, detect, foreign

if TYPE_CHECKING:
    from studyhall.knowledge.ann import VectorAnn

__all__ = [
    "CROSS_LANGUAGE_MARGIN",
    "CROSS_LANGUAGE_WEIGHT",
    "CROSS_SCRIPT_WEIGHT",
    "DEFAULT_ALPHA",
    "DEFAULT_FUSION",
    "DEFAULT_LEXICAL_SHARE",
    "DEFAULT_RRF_K",
    "DEFAULT_RRF_WEIGHTS",
    "STOPWORDS",
    "BM25Params",
    "Fusion",
    "HybridIndex",
    "Mode",
    "reciprocal_rank_fusion",
    "search_many",
    "tokenize",
]

K = TypeVar("K", bound=Hashable)
H = TypeVar("H", bound=Hashable)
Mode = Literal["hybrid", "bm25", "vector"]
Fusion = Literal["zscore", "rrf", "linear"]
# The hybrid adds each list's standardised scores: how far a chunk's BM25 score stands above
# the mean of BM25's top list, in that list's standard deviations, and the same for its cosine,
# weighted by DEFAULT_LEXICAL_SHARE. Scores say what ranks cannot: a BM25 winner far ahead of
# the rest keeps its place against the vectors' favourite, and when BM25's top scores are close
# (a question sharing few rare words with any chunk) the cosine decides. Rank fusion (RRF, the
# default until issue 13) could not tell the two cases apart: with its 3:1 weights and k=2 the
# vectors could only ever swap BM25's first two chunks, and did so however far apart their
# BM25 scores were. Measured with bench/retrieval_quality.py on four sets written by different
# people (SciQ, numpy and Python docstrings, a six-language corpus): RRF trailed BM25 at R@1 on
# python-docs' sample; standardised scores equal or beat RRF's R@1 and MRR@10 on every set and
# sample measured, and never trail BM25 (bench/RESULTS.md, "The hybrid's fusion").
DEFAULT_FUSION: Fusion = "zscore"
DEFAULT_LEXICAL_SHARE = 0.5
# A BM25 list whose scores barely differ (one or two matching chunks, or chunks that repeat the
# same words) has almost no spread; dividing by it would turn a tiny lead into a landslide. The
# spread is taken as at least this share of the mean score.
_SPREAD_FLOOR = 0.1
# Rank fusion's weights, chosen by MRR@10 on SciQ valid.json questions: the 4-bit e5-small
# ranking is weaker than BM25 on questions written from their passages, and k=60 flattens
# BM25's confident top ranks; with 3:1 and k=2 a vector-only top hit lands right after the
# strong lexical matches.
DEFAULT_RRF_WEIGHTS = (3.0, 1.0)
DEFAULT_RRF_K = 2
DEFAULT_ALPHA = 0.7
# Cross-language retrieval. A chunk in another language than the query (an Arabic page, an
# English question) shares few or no words with it, so BM25 rarely ranks it and its vector score
# alone lands it behind pages in the query's language that merely share a word. With standardised
# scores, a chunk in another script than the query's (BM25 cannot match a single word of it)
# whose cosine is within CROSS_LANGUAGE_MARGIN of the best takes its cosine's standard score in
# place of the BM25 one it cannot have; a chunk in the query's script but another language needs
# nothing more (the cosine already holds half the weight, and BM25 still matches its names,
# terms and cognates). With rank fusion such chunks get rankings of their own, weighted by how
# blind BM25 is to them:
# - in another script (Arabic, Cyrillic ... for a Latin-script question) BM25 cannot match a
#   single word, so their ranking stands in for the lexical one with BM25's weight (3.0);
# - in the query's script but another language (a French page, an English question) BM25 still
#   matches names, terms and cognates, so theirs is only a second vector view, with the vector
#   ranking's weight (1.0). At 3.0 too, foreign pages close in meaning pushed the right page in
#   the question's own language from the top: bench/retrieval_quality.py's mixed-languages set
#   (six Latin-script languages) fell to hybrid R@1 0.267 against BM25's 0.417; at 1.0, 0.433.
# Only chunks whose cosine is within the margin of the best cosine of any chunk take part, so
# an unrelated foreign page does not climb on every question. The margin was measured with the
# bundled e5-small on 13 hand-written Arabic, French and Spanish pages mixed with 120 SciQ
# supports: English questions about the foreign pages found them within 0.06 of the best cosine
# 12 times in 13, while the 120 SciQ questions found some foreign page that close twice (1.7%).
# Even then the right English page keeps its place: it also has the BM25 rank.
CROSS_SCRIPT_WEIGHT = 3.0
CROSS_LANGUAGE_WEIGHT = 1.0
CROSS_LANGUAGE_MARGIN = 0.06
# Words of a chunk read to tell its language (the opening is enough; it bounds build time).
_LANGUAGE_SAMPLE_WORDS = 200

# --- tokenizer -----------------------------------------------------------------------------
_TOKEN = re.compile(r"[^\W_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# Accents are stripped so "fisica" finds "física" (and Arabic harakat vanish the same way);
# NFKD also splits Arabic alef-with-hamza into alef + a combining hamza that is then dropped.
_MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u0640\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)  # combining diacritics (Latin, Cyrillic, Hebrew points, Arabic harakat) and Arabic tatweel
# Letters Arabic writers use interchangeably at word ends.
_ARABIC_FOLD = str.maketrans({"ى": "ي", "ة": "ه"})


def _fold(text: str) -> str:
    """Casefold, strip accents and fold Arabic letter variants (the form every term is kept in)."""
    text = _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))
    if text.isascii():
        return text
    # Recompose what is left (Japanese voiced kana, Hangul): NFKD split them too.
    return unicodedata.normalize("NFC", text).translate(_ARABIC_FOLD)


# Frequent words that carry no topic, in every language told apart (BM25's idf already discounts
# common words; these lists are kept short on purpose).
STOPWORDS = frozenset(_fold(word) for words in STOPWORDS_BY_LANGUAGE.values() for word in words)


def _stem(token: str) -> str:
    """Harman's "S" stemmer: plural endings off (cells -> cell, bodies -> body, boxes -> box).

    Deliberately tiny: it helps English, Spanish, French and Portuguese plurals (SciQ valid
    questions: BM25 R@1 0.897 -> 0.904) and cannot do much harm in other languages.
    """
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("es") and token[-3] in "sxzh":
        return token[:-2]
    if len(token) > 3 and token[-1] == "s" and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lowercase, accent-free, plural-stripped word tokens without stopwords; CJK as bigrams."""
    return _analyze(text)[0]


def language_of(text: str) -> Language:
    """The language of a text (see `language.detect`), read from its folded words."""
    return detect(text, _TOKEN.findall(_fold(text))[:_LANGUAGE_SAMPLE_WORDS])


def _analyze(text: str) -> tuple[list[str], list[str]]:
    """(tokens, the folded words before stopwords were dropped)."""
    folded = _fold(text)
    words = _TOKEN.findall(folded)
    tokens = _tokens(folded, words)
    return tokens, words


def _tokens(text: str, words: list[str]) -> list[str]:
    tokens = [_stem(t) for t in words if t not in STOPWORDS]
    if not _CJK.search(text):
        return tokens
    out: list[str] = []
    for token in tokens:
        if _CJK.search(token) and len(token) > 1:
            # No spaces between CJK words: overlapping character pairs are the usual unit.
            out.extend(token[i : i + 2] for i in range(len(token) - 1))
        else:
            out.append(token)
    return out


@dataclass(frozen=True, slots=True)
class BM25Params:
    """Okapi BM25 parameters."""

    k1: float = 1.2
    b: float = 0.75


class _Languages:
    """Process-wide table of the languages seen, so an index keeps one small int per chunk."""

    def __init__(self) -> None:
        self._ids: dict[Language, int] = {}
        self.table: list[Language] = []
        # Indexes are built in worker threads; two of them must never give one id to two languages.
        self._lock = threading.Lock()

    def id(self, language: Language) -> int:
        found = self._ids.get(language)
        if found is None:
            with self._lock:
                found = self._ids.get(language)
                if found is None:
                    found = self._ids[language] = len(self.table)
                    self.table.append(language)
        return found


_LANGUAGES = _Languages()


@dataclass(frozen=True, slots=True)
class _Cosines:
    """Cosines of the query with some rows of one index (rows None: every row, in order)."""

    rows: npt.NDArray[np.int64] | None
    sims: npt.NDArray[np.float32]

    def row_numbers(self) -> npt.NDArray[np.int64]:
        if self.rows is not None:
            return self.rows
        return np.arange(self.sims.shape[0], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Ranked:
    """One ranked list over (index number, row) pairs, best first."""

    owner: npt.NDArray[np.int32]
    row: npt.NDArray[np.int64]
    score: npt.NDArray[np.float32]


class HybridIndex(Generic[K]):
    """BM25 and cosine search over one collection's chunks (immutable once built)."""

    def __init__(
        self,
        chunk_ids: list[K],
        vocab: dict[str, int],
        indptr: npt.NDArray[np.int64],
        post_docs: npt.NDArray[np.int32],
        post_tf: npt.NDArray[np.float32],
        doc_len: npt.NDArray[np.float32],
        vectors: npt.NDArray[np.float32] | None,
        params: BM25Params,
        languages: npt.NDArray[np.int16] | None = None,
    ) -> None:
        self.chunk_ids = chunk_ids
        self._vocab = vocab
        self._indptr = indptr
        self._post_docs = post_docs
        self._post_tf = post_tf
        self._doc_len = doc_len
        self.vectors = vectors
        self.params = params
        # Per chunk, an id into the process-wide language table (None: not told, never foreign).
        self._languages = languages
        self._norm_cache: tuple[float, npt.NDArray[np.float32]] | None = None
        self.ann: VectorAnn | None = None
        # Summed as BM25 always did (float32), so avgdl and every score keep their last bits.
        self.total_length = float(doc_len.sum())
        # The languages present, and the foreign-row masks asked for (an index never changes).
        self._present: list[Language] | None = None
        self._masks: dict[tuple[int, ...], npt.NDArray[np.bool_]] = {}
        # Per term, the largest tf and the shortest chunk among its postings: with them a
        # term's BM25 contribution has an upper bound without reading its postings (pruning).
        self._term_max_tf = np.zeros(len(vocab), dtype=np.float64)
        self._term_min_len = np.zeros(len(vocab), dtype=np.float64)
        if len(vocab):
            self._term_max_tf[:] = np.maximum.reduceat(post_tf, indptr[:-1])
            self._term_min_len[:] = np.minimum.reduceat(doc_len[post_docs], indptr[:-1])

    def use_ann(self, ann: VectorAnn | None) -> None:
        """Search vectors through this ANN view (set once, right after build, before sharing)."""
        self.ann = ann

    @classmethod
    def build(
        cls,
        chunk_ids: Sequence[K],
        texts: Sequence[str],
        vectors: npt.ArrayLike | None,
        *,
        params: BM25Params | None = None,
    ) -> HybridIndex[K]:
        """Index chunks: ids, their texts and their (n, d) embedding matrix (or None)."""
        n = len(chunk_ids)
        if len(texts) != n:
            raise ValueError(f"{n} chunk ids but {len(texts)} texts")
        matrix: npt.NDArray[np.float32] | None = None
        if vectors is not None:
            matrix = np.ascontiguousarray(vectors, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[0] != n:
                raise ValueError(f"vectors must have shape ({n}, d), got {matrix.shape}")
            if matrix is vectors:
                matrix = matrix.copy()  # never scale the caller's array in place
            norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))[:, None]
            norms[norms == 0] = 1.0
            matrix /= norms
        vocab: dict[str, int] = {}
        # Term ids, not the tokens: at 1M chunks the tokens' str objects alone were ~9 GB.
        term_ids = array("i")
        lengths = np.zeros(n, dtype=np.int64)
        languages = np.zeros(n, dtype=np.int16)
        for row, text in enumerate(texts):
            tokens, words = _analyze(text)
            lengths[row] = len(tokens)
            # Ids in first-seen order (a new term's id is the vocabulary's size before it).
            term_ids.extend([vocab.setdefault(token, len(vocab)) for token in tokens])
            languages[row] = _LANGUAGES.id(detect(text, words[:_LANGUAGE_SAMPLE_WORDS]))
        # One (term, doc) key per token; sorting and counting equal keys gives the postings
        # already grouped by term, without a Python loop over them.
        keys = np.frombuffer(term_ids, dtype=np.intc).astype(np.int64)
        del term_ids
        keys *= max(n, 1)
        keys += np.repeat(np.arange(n, dtype=np.int64), lengths)
        keys, counts = np.unique(keys, return_counts=True)
        post_terms = keys // max(n, 1)
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(post_terms, minlength=len(vocab)), out=indptr[1:])
        index = cls(
            chunk_ids=list(chunk_ids),
            vocab=vocab,
            indptr=indptr,
            post_docs=(keys % max(n, 1)).astype(np.int32),
            post_tf=counts.astype(np.float32),
            doc_len=lengths.astype(np.float32),
            vectors=matrix,
            params=params or BM25Params(),
            languages=languages,
        )
        return index

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @property
    def dimension(self) -> int | None:
        """Vector length, or None for an index without vectors."""
        return None if self.vectors is None else int(self.vectors.shape[1])

    def search(
        self,
        query_text: str,
        query_vector: npt.ArrayLike | None = None,
        k: int = 10,
        mode: Mode = "hybrid",
        *,
        fusion: Fusion = DEFAULT_FUSION,
    ) -> list[tuple[K, float]]:
        """Top-k (chunk_id, score): BM25 score, cosine, or fused score by mode (see search_many,
        which also takes the fusions' weights)."""
        return search_many([self], query_text, query_vector, k, mode, fusion=fusion)

    # --- internals used by search_many ---------------------------------------------------
    def _foreign_rows(
        self, query: Language, other_script: bool | None = None
    ) -> npt.NDArray[np.bool_] | None:
        """Mask of the chunks in another language than the query's (None: there are none).

        other_script=True keeps only those in another script, False only those in the query's.
        """
        if self._languages is None:
            return None
        present = self._present
        if present is None:
            # Read once: a pass over every row per query cost ~1 ms at 100k chunks.
            present = self._present = [_LANGUAGES.table[int(i)] for i in np.unique(self._languages)]
        alien = tuple(
            _LANGUAGES.id(language)
            for language in present
            if foreign(query, language)
            and (other_script is None or (language.script != query.script) == other_script)
        )
        if not alien:
            return None
        mask = self._masks.get(alien)
        if mask is None:
            mask = self._masks[alien] = np.isin(self._languages, alien)
        return mask

    def _term_df(self, term: str) -> int:
        tid = self._vocab.get(term)
        return 0 if tid is None else int(self._indptr[tid + 1] - self._indptr[tid])

    def _bm25_scores(
        self, terms: Sequence[str], idf: Sequence[float], avgdl: float
    ) -> npt.NDArray[np.float32] | None:
        scores: npt.NDArray[np.float32] | None = None
        norm: npt.NDArray[np.float32] | None = None
        k1 = self.params.k1
        for term, weight in zip(terms, idf, strict=True):
            tid = self._vocab.get(term)
            if tid is None:
                continue
            if scores is None:
                scores = np.zeros(len(self), dtype=np.float32)
                norm = self._length_norm(avgdl)
            assert norm is not None
            start, end = self._indptr[tid], self._indptr[tid + 1]
            docs = self._post_docs[start:end]
            tf = self._post_tf[start:end]
            # Within one term's postings every doc appears once, so fancy += is exact.
            scores[docs] += np.float32(weight * (k1 + 1)) * tf / (tf + norm[docs])
        return scores

    def _bm25_top(
        self, terms: Sequence[str], idf: Sequence[float], avgdl: float, limit: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None:
        """The `limit` best rows by BM25 and their scores, best first, ties broken by row.

        The same rows and float32 scores as ranking `_bm25_scores` whole, without reading the
        whole postings of the query's common words (which span most of a large collection and,
        by their idf near zero, add almost nothing). MaxScore: terms are read from the one that
        can add the most to a chunk's score (its idf times a bound from its postings' largest
        tf and shortest chunk) down. Once the `limit`-th best partial score beats what the
        unread terms together could add, no chunk outside the postings read can reach the top;
        the unread terms are then looked up (binary search) for the chunks that still can,
        one term at a time, dropping those that fall out of reach. The survivors' scores are
        computed with `_bm25_scores`' formula and term order, so they are the same float32s.
        """
        present = []
        for term, weight in zip(terms, idf, strict=True):
            tid = self._vocab.get(term)
            if tid is not None:
                present.append((tid, weight))
        if not present or limit <= 0:
            return None
        norm = self._length_norm(avgdl)
        k1, b = self.params.k1, self.params.b
        scale = b / max(avgdl, 1e-9)
        bounds = []
        for tid, weight in present:
            top_tf = self._term_max_tf[tid]
            shortest = k1 * (1 - b + scale * self._term_min_len[tid])
            bounds.append(weight * (k1 + 1) * top_tf / (top_tf + shortest) * (1 + _SLACK))
        order = sorted(range(len(present)), key=lambda i: -bounds[i])
        # rest[j]: the most the terms after the j-th (in that order) can add to a chunk.
        rest = [sum(bounds[i] for i in order[j + 1 :]) for j in range(len(order))]
        partial = np.zeros(len(self), dtype=np.float32)
        seen = np.zeros(len(self), dtype=np.bool_)
        touched: list[npt.NDArray[np.int32]] = []
        threshold = 0.0
        read = len(order)
        for j, i in enumerate(order):
            tid, weight = present[i]
            start, end = self._indptr[tid], self._indptr[tid + 1]
            docs = self._post_docs[start:end]
            tf = self._post_tf[start:end]
            partial[docs] += np.float32(weight * (k1 + 1)) * tf / (tf + norm[docs])
            touched.append(docs[~seen[docs]])
            seen[docs] = True
            count = sum(t.size for t in touched)
            if count >= limit and j + 1 < len(order):
                touched = [np.concatenate(touched)]
                values = partial[touched[0]]
                # Partial scores are lower bounds: `limit` chunks score at least this.
                threshold = float(np.partition(values, count - limit)[count - limit])
                if threshold * (1 - _SLACK) > rest[j]:
                    read = j + 1
                    break
        rows = (np.concatenate(touched) if len(touched) != 1 else touched[0]).astype(np.int64)
        values = partial[rows].astype(np.float64)
        for j in range(read - 1, len(order)):
            if j >= read:
                tid, weight = present[order[j]]
                start, end = self._indptr[tid], self._indptr[tid + 1]
                docs = self._post_docs[start:end]
                at = np.searchsorted(docs, rows)
                at[at >= docs.size] = 0
                tf = np.where(docs[at] == rows, self._post_tf[start:end][at], 0.0)
                values += weight * (k1 + 1) * tf / (tf + norm[rows])
            if values.size > limit:
                cut = float(np.partition(values, values.size - limit)[values.size - limit])
                threshold = max(threshold, cut * (1 - _SLACK))
                # Out of reach: even with every term not yet added, below `limit` others.
                keep = (values + rest[j]) * (1 + _SLACK) >= threshold * (1 - _SLACK)
                rows, values = rows[keep], values[keep]
        rows.sort()
        return _best(*self._exact_scores(present, rows, norm), limit)

    def _exact_scores(
        self,
        present: Sequence[tuple[int, float]],
        rows: npt.NDArray[np.int64],
        norm: npt.NDArray[np.float32],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """BM25 of some rows (sorted), summed as `_bm25_scores` sums them (same float32 bits)."""
        k1 = self.params.k1
        scores = np.zeros(rows.size, dtype=np.float32)
        row_norm = norm[rows]
        for tid, weight in present:
            start, end = self._indptr[tid], self._indptr[tid + 1]
            docs = self._post_docs[start:end]
            at = np.searchsorted(docs, rows)
            at[at >= docs.size] = 0
            tf = np.where(docs[at] == rows, self._post_tf[start:end][at], np.float32(0))
            # A row without the term adds 0/(0 + norm) = +0.0: its sum is unchanged.
            scores += np.float32(weight * (k1 + 1)) * tf / (tf + row_norm)
        return rows, scores

    def _length_norm(self, avgdl: float) -> npt.NDArray[np.float32]:
        """k1 * (1 - b + b * dl / avgdl) per document, cached for the last avgdl used."""
        cached = self._norm_cache
        if cached is not None and cached[0] == avgdl:
            return cached[1]
        k1, b = self.params.k1, self.params.b
        norm = (k1 * (1 - b + b * self._doc_len / np.float32(max(avgdl, 1e-9)))).astype(np.float32)
        self._norm_cache = (avgdl, norm)
        return norm


def _top(scores: npt.NDArray[np.float32], limit: int, *, positive: bool) -> npt.NDArray[np.int64]:
    """Rows of the `limit` best scores, best first; ties broken by row for determinism."""
    if positive:
        rows = np.flatnonzero(scores > 0)
        values = scores[rows]
    else:
        rows = np.arange(scores.shape[0])
        values = scores
    if rows.size > limit:
        part = np.argpartition(-values, limit - 1)[:limit]
        rows, values = rows[part], values[part]
    order = np.lexsort((rows, -values))
    result: npt.NDArray[np.int64] = rows[order].astype(np.int64)
    return result


def _best(
    rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], limit: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The `limit` best positive scores, best first; ties (at the cut too) broken by row."""
    positive = scores > 0
    rows, scores = rows[positive], scores[positive]
    if rows.size > limit:
        cut = np.partition(scores, rows.size - limit)[rows.size - limit]
        keep = scores >= cut
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:limit]
    return rows[order], scores[order]


# Margin of the pruning's comparisons: float32 sums in another order than _bm25_scores' differ
# in their last bits (~1e-7), so bounds are widened by far more than that.
_SLACK = 1e-4


def _merge(
    parts: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float32]]], limit: int
) -> _Ranked:
    """Merge per-index ranked rows into one global ranking (scores are comparable)."""
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Ranked(empty.astype(np.int32), empty, np.zeros(0, dtype=np.float32))
    owner = np.concatenate([np.full(rows.size, i, dtype=np.int32) for i, rows, _ in parts])
    row = np.concatenate([rows for _, rows, _ in parts])
    score = np.concatenate([s for _, _, s in parts]).astype(np.float32)
    order = np.lexsort((row, owner, -score))[:limit]
    return _Ranked(owner[order], row[order], score[order])


def _bm25_ranking(indexes: Sequence[HybridIndex[K]], query_text: str, limit: int) -> _Ranked:
    terms = sorted(set(tokenize(query_text)))
    if not terms:
        return _merge([], limit)
    # Statistics pooled over every index searched: scores stay comparable across collections.
    total_docs = sum(len(ix) for ix in indexes)
    total_len = sum(ix.total_length for ix in indexes)
    avgdl = total_len / total_docs if total_docs else 1.0
    idf = []
    for term in terms:
        df = sum(ix._term_df(term) for ix in indexes)
        idf.append(float(np.log(1.0 + (total_docs - df + 0.5) / (df + 0.5))))
    parts = []
    for number, ix in enumerate(indexes):
        found = ix._bm25_top(terms, idf, avgdl, limit)
        if found is not None:
            parts.append((number, *found))
    return _merge(parts, limit)


def _similarities(
    indexes: Sequence[HybridIndex[K]],
    query_vector: npt.ArrayLike,
    limit: int,
    query_text: str | None = None,
) -> list[_Cosines | None]:
    """Cosine of the query with the chunks of each index (None for an index without vectors).

    Exact: every chunk. Through an index's ready ANN view: the graph's `limit` nearest rows, and
    when `query_text` is given (the cross-language ranking needs them) its foreign-language rows
    too, exactly, unless they are too many to be cheaper than the graph.
    """
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(query))
    if norm > 0:
        query = query / np.float32(norm)
    language = language_of(query_text) if query_text is not None else None
    out: list[_Cosines | None] = []
    for ix in indexes:
        if ix.vectors is None or len(ix) == 0:
            out.append(None)
            continue
        if ix.vectors.shape[1] != query.shape[0]:
            raise ValueError(
                f"query vector has {query.shape[0]} dimensions, the index {ix.vectors.shape[1]}"
            )
        rows = ix.ann.rows(query, limit) if ix.ann is not None else None
        if rows is None:
            # einsum, not `@`: matmul goes to multithreaded OpenBLAS, whose threads spin against
            # each other when the cores are busy with other requests (measured on 2 loaded
            # cores: 20 ms instead of 0.6 ms at 10k chunks, 104 ms instead of 39 ms at 100k).
            # einsum runs one SIMD loop in the calling thread, so concurrent searches scale.
            out.append(_Cosines(None, np.einsum("ij,j->i", ix.vectors, query)))
            continue
        if language is not None and language.script is not None:
            alien = ix._foreign_rows(language)
            if alien is not None:
                foreign_rows = np.flatnonzero(alien)
                if foreign_rows.size <= _EXACT_FOREIGN_ROWS:
                    rows = np.union1d(rows, foreign_rows)
        out.append(_Cosines(rows, np.einsum("ij,j->i", ix.vectors[rows], query)))
    return out


# Foreign-language rows of an ANN-searched index scored exactly for the cross-language ranking
# (a pass over this many rows costs about one graph search); beyond, only the graph's candidates.
_EXACT_FOREIGN_ROWS = 20_000


def _vector_ranking(
    indexes: Sequence[HybridIndex[K]], query_vector: npt.ArrayLike, limit: int
) -> _Ranked:
    return _rank_similarities(_similarities(indexes, query_vector, limit), limit)


def _rank_similarities(
    similarities: Sequence[_Cosines | None],
    limit: int,
    masks: Sequence[npt.NDArray[np.bool_] | None] | None = None,
) -> _Ranked:
    """The best `limit` chunks by cosine, over every index (or only where the masks are set).

    A mask runs over the cosines an index has (`_Cosines.sims`), not over all its rows.
    """
    parts = []
    for number, cosines in enumerate(similarities):
        if cosines is None:
            continue
        sims = cosines.sims
        if masks is None:
            at = _top(sims, limit, positive=False)
        else:
            mask = masks[number]
            if mask is None:
                continue
            candidates = np.flatnonzero(mask)
            at = candidates[_top(sims[candidates], limit, positive=False)]
        rows = at if cosines.rows is None else cosines.rows[at]
        parts.append((number, rows, sims[at]))
    return _merge(parts, limit)


def _cross_language_ranking(
    indexes: Sequence[HybridIndex[K]],
    query_text: str,
    similarities: Sequence[_Cosines | None],
    limit: int,
    other_script: bool,
) -> _Ranked | None:
    """Chunks in another language than the query whose cosine is near the best (see the margin),
    in another script than the query's (other_script) or in its script."""
    query = language_of(query_text)
    if query.script is None:
        return None
    present = [c.sims for c in similarities if c is not None and c.sims.size]
    if not present:
        return None
    floor = max(float(s.max()) for s in present) - CROSS_LANGUAGE_MARGIN
    masks: list[npt.NDArray[np.bool_] | None] = []
    for ix, cosines in zip(indexes, similarities, strict=True):
        alien = ix._foreign_rows(query, other_script) if cosines is not None else None
        if alien is None or cosines is None:
            masks.append(None)
            continue
        masks.append(alien[cosines.row_numbers()] & (cosines.sims >= floor))
    if all(mask is None or not mask.any() for mask in masks):
        return None
    return _rank_similarities(similarities, limit, masks)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[H]],
    *,
    weights: Sequence[float] | None = None,
    k: int = 60,
) -> list[tuple[H, float]]:
    """Fuse ranked lists: score(d) = sum_i w_i / (k + rank_i(d)), ranks starting at 1."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[H, float] = {}
    first_seen: dict[H, int] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
            first_seen.setdefault(item, len(first_seen))
    return sorted(fused.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))


def search_many(
    indexes: Sequence[HybridIndex[K]],
    query_text: str,
    query_vector: npt.ArrayLike | None = None,
    k: int = 10,
    mode: Mode = "hybrid",
    *,
    fusion: Fusion = DEFAULT_FUSION,
    lexical_share: float = DEFAULT_LEXICAL_SHARE,
    weights: tuple[float, float] = DEFAULT_RRF_WEIGHTS,
    rrf_k: int = DEFAULT_RRF_K,
    alpha: float = DEFAULT_ALPHA,
    depth: int = 100,
) -> list[tuple[K, float]]:
    """Search several collections' indexes as one; the same contract as HybridIndex.search.

    mode="hybrid" fuses the top `depth` of the BM25 and the vector rankings: fusion="zscore"
    (lexical_share * BM25's standard score + the rest * the cosine's, each against its own top
    list; see DEFAULT_FUSION), "rrf" (reciprocal rank fusion with weights (bm25, vector) and
    constant rrf_k) or "linear" (alpha * BM25 + (1 - alpha) * cosine, each min-max scaled over
    the candidates). Without a query vector, or without vectors in the indexes, it degrades to
    BM25. With "zscore" and "rrf", chunks in another language than the query's that are close to
    it by cosine are helped past BM25's blindness to them (see CROSS_SCRIPT_WEIGHT).
    """
    if k <= 0 or not indexes:
        return []
    if mode not in ("hybrid", "bm25", "vector"):
        raise ValueError(f"unknown search mode {mode!r}")
    if fusion not in ("zscore", "rrf", "linear"):
        raise ValueError(f"unknown fusion {fusion!r}")
    has_vectors = any(ix.vectors is not None for ix in indexes)
    if mode == "vector":
        if query_vector is None or not has_vectors:
            raise ValueError("vector search needs a query vector and indexed vectors")
        ranked = _vector_ranking(indexes, query_vector, k)
        return _resolve(indexes, ranked)
    if mode == "bm25" or query_vector is None or not has_vectors:
        return _resolve(indexes, _bm25_ranking(indexes, query_text, k))
    limit = max(k, depth)
    lexical = _bm25_ranking(indexes, query_text, limit)
    similarities = _similarities(
        indexes, query_vector, limit, query_text if fusion != "linear" else None
    )
    semantic = _rank_similarities(similarities, limit)
    if fusion == "linear":
        fused = _linear_fusion(indexes, lexical, semantic, query_vector, alpha)[:k]
    elif fusion == "zscore":
        blind = _cross_language_ranking(indexes, query_text, similarities, limit, True)
        fused = _zscore_fusion(
            indexes, lexical, semantic, query_vector, lexical_share, limit, blind
        )[:k]
    else:
        rankings = [_pairs(lexical), _pairs(semantic)]
        rrf_weights = list(weights)
        for other_script, weight in ((True, CROSS_SCRIPT_WEIGHT), (False, CROSS_LANGUAGE_WEIGHT)):
            across = _cross_language_ranking(indexes, query_text, similarities, limit, other_script)
            if across is not None:
                rankings.append(_pairs(across))
                rrf_weights.append(weight)
        fused = reciprocal_rank_fusion(rankings, weights=rrf_weights, k=rrf_k)[:k]
    return [(indexes[owner].chunk_ids[row], float(score)) for (owner, row), score in fused]


def _pairs(ranked: _Ranked) -> list[tuple[int, int]]:
    return list(zip(ranked.owner.tolist(), ranked.row.tolist(), strict=True))


def _minmax(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.ones_like(values) if high > 0 else np.zeros_like(values)
    result: npt.NDArray[np.float64] = (values - low) / (high - low)
    return result


def _linear_fusion(
    indexes: Sequence[HybridIndex[K]],
    lexical: _Ranked,
    semantic: _Ranked,
    query_vector: npt.ArrayLike,
    alpha: float,
) -> list[tuple[tuple[int, int], float]]:
    """Convex combination of min-max scaled BM25 and cosine over the union of both top lists.

    Min-max scaling makes alpha independent of the embedding model's cosine range (e5 cosines
    sit in 0.7-0.9, OpenAI's in 0.1-0.6). A candidate missing from the BM25 list scores 0 there;
    one missing from the vector list gets its exact cosine.
    """
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(query))
    if norm > 0:
        query = query / np.float32(norm)
    lexical_scores = {
        (o, r): s
        for o, r, s in zip(
            lexical.owner.tolist(), lexical.row.tolist(), lexical.score.tolist(), strict=True
        )
    }
    cosines = {
        (o, r): s
        for o, r, s in zip(
            semantic.owner.tolist(), semantic.row.tolist(), semantic.score.tolist(), strict=True
        )
    }
    for key in lexical_scores:
        if key not in cosines:
            vectors = indexes[key[0]].vectors
            cosines[key] = float(vectors[key[1]] @ query) if vectors is not None else 0.0
    keys = list(dict.fromkeys([*lexical_scores, *cosines]))
    bm25 = _minmax(np.array([lexical_scores.get(key, 0.0) for key in keys], dtype=np.float64))
    cosine = _minmax(np.array([cosines[key] for key in keys], dtype=np.float64))
    combined = alpha * bm25 + (1 - alpha) * cosine
    order = sorted(range(len(keys)), key=lambda i: (-combined[i], keys[i]))
    return [(keys[i], float(combined[i])) for i in order]


def _standard(values: npt.NDArray[np.float64], floor: float = 0.0) -> tuple[float, float]:
    """Mean and standard deviation of a list's scores (the spread at least `floor` * |mean|)."""
    if values.size == 0:
        return 0.0, 1.0
    mean = float(values.mean())
    return mean, max(float(values.std()), floor * abs(mean), 1e-9)


def _zscore_fusion(
    indexes: Sequence[HybridIndex[K]],
    lexical: _Ranked,
    semantic: _Ranked,
    query_vector: npt.ArrayLike,
    lexical_share: float,
    limit: int,
    blind: _Ranked | None,
) -> list[tuple[tuple[int, int], float]]:
    """lexical_share * z(BM25) + (1 - lexical_share) * z(cosine) over the union of both lists.

    Each z is taken against the list the score comes from (its mean and spread over that top
    list), so the two are on one scale whatever the query's length or the model's cosine range.
    A candidate of the vector list that BM25 did not list gets 0 when BM25 listed every chunk it
    matched (its true score), else the lowest listed score (at most that; it was not listed).
    One of the BM25 list missing from the vector list gets its exact cosine from the matrix.
    The chunks of `blind` (another script than the query's, close by cosine) take their
    cosine's z in place of a lower BM25 one: BM25 cannot match a word of them.
    """
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(query))
    if norm > 0:
        query = query / np.float32(norm)
    lexical_scores = _scores_by_key(lexical)
    cosines = _scores_by_key(semantic)
    stand_in = set(_pairs(blind)) if blind is not None else set()
    keys = list(dict.fromkeys([*lexical_scores, *cosines, *stand_in]))
    bm25_mean, bm25_spread = _standard(lexical.score.astype(np.float64), _SPREAD_FLOOR)
    cosine_mean, cosine_spread = _standard(semantic.score.astype(np.float64))
    unlisted = float(lexical.score.min()) if lexical.score.size >= limit else 0.0
    combined: list[float] = []
    for key in keys:
        cosine = cosines.get(key)
        if cosine is None:
            vectors = indexes[key[0]].vectors
            # A chunk awaiting a re-index has no comparable vector: it counts as the weakest.
            weakest = float(semantic.score.min()) if semantic.score.size else 0.0
            cosine = float(vectors[key[1]] @ query) if vectors is not None else weakest
        z_cosine = (cosine - cosine_mean) / cosine_spread
        z_bm25 = (lexical_scores.get(key, unlisted) - bm25_mean) / bm25_spread
        if key in stand_in:
            z_bm25 = max(z_bm25, z_cosine)
        combined.append(lexical_share * z_bm25 + (1 - lexical_share) * z_cosine)
    order = sorted(range(len(keys)), key=lambda i: (-combined[i], keys[i]))
    return [(keys[i], combined[i]) for i in order]


def _scores_by_key(ranked: _Ranked) -> dict[tuple[int, int], float]:
    return {
        (o, r): s
        for o, r, s in zip(
            ranked.owner.tolist(), ranked.row.tolist(), ranked.score.tolist(), strict=True
        )
    }


def _resolve(indexes: Sequence[HybridIndex[K]], ranked: _Ranked) -> list[tuple[K, float]]:
    return [
        (indexes[owner].chunk_ids[row], float(score))
        for owner, row, score in zip(
            ranked.owner.tolist(), ranked.row.tolist(), ranked.score.tolist(), strict=True
        )
    ]
