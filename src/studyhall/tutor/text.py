"""Small, deterministic text tools the tutor shares: terms, sentences, overlap.

Used by the offline provider (picking the sentences to quote), the quiz-leak check, the in-chat
quiz generator and the "most asked topics" figure. No model, no network: plain rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_SPACES = re.compile(r"\s+")
# A sentence ends at . ! ? (or their CJK/Arabic forms) followed by space, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？؟])\s+|\n\s*\n")

# Function words of the languages the shared curriculum uses most (en, fr, es, de, pt, it).
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "explain",
        "tell",
        "please",
        "describe",
        "define",
        "mean",
        "means",
        "meaning",
        "give",
        "show",
        "know",
        "want",
        "need",
        "help",
        "does",
        "did",
        "done",
        "using",
        "use",
        "used",
        "one",
        "two",
        "many",
        "much",
        "may",
        "might",
        "must",
        "shall",
        "le",
        "la",
        "les",
        "un",
        "une",
        "des",
        "du",
        "de",
        "et",
        "est",
        "en",
        "que",
        "qui",
        "dans",
        "pour",
        "par",
        "sur",
        "au",
        "aux",
        "ce",
        "ces",
        "il",
        "elle",
        "ils",
        "elles",
        "je",
        "tu",
        "nous",
        "vous",
        "ne",
        "pas",
        "plus",
        "ou",
        "mais",
        "donc",
        "car",
        "quoi",
        "comment",
        "quel",
        "quelle",
        "quels",
        "quelles",
        "el",
        "los",
        "las",
        "del",
        "y",
        "es",
        "lo",
        "por",
        "con",
        "para",
        "una",
        "unos",
        "unas",
        "se",
        "que",
        "como",
        "cual",
        "cuales",
        "donde",
        "cuando",
        "der",
        "die",
        "das",
        "den",
        "dem",
        "des",
        "ein",
        "eine",
        "einer",
        "eines",
        "und",
        "ist",
        "sind",
        "mit",
        "von",
        "zu",
        "im",
        "auf",
        "für",
        "nicht",
        "wie",
        "was",
        "wer",
        "wo",
        "wann",
        "o",
        "os",
        "as",
        "um",
        "uma",
        "dos",
        "das",
        "em",
        "no",
        "na",
        "nos",
        "nas",
        "com",
        "il",
        "lo",
        "gli",
        "di",
        "da",
        "che",
        "non",
        "per",
    ]
)


def normalize(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the form every comparison uses."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def collapse_spaces(text: str) -> str:
    """Whitespace runs (line breaks included) as one space."""
    return _SPACES.sub(" ", text).strip()


def words(text: str) -> list[str]:
    """The words of a text, normalized, in order."""
    return _WORD.findall(normalize(text))


def stem(word: str) -> str:
    """A light suffix-stripping stem, so 'cells' meets 'cell' and 'dividing' meets 'divides'."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """Content-word stems of a text, in order (stopwords and 1-letter words dropped)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def term_set(text: str) -> set[str]:
    """The distinct content-word stems of a text."""
    return set(terms(text))


@dataclass(frozen=True)
class Sentence:
    """A sentence of a passage: its exact text (spaces collapsed) and position."""

    text: str
    position: int


def sentences(text: str) -> list[Sentence]:
    """Split a passage into sentences, keeping each one's wording exactly (spaces collapsed)."""
    out: list[Sentence] = []
    for i, raw in enumerate(_SENTENCE_END.split(text)):
        sentence = collapse_spaces(raw)
        if len(sentence) >= 12 and any(ch.isalpha() for ch in sentence):
            out.append(Sentence(sentence, i))
    return out


def overlap(query_terms: set[str], text: str) -> int:
    """How many of the query's terms the text contains."""
    return len(query_terms & term_set(text))


def top_terms(texts: Iterable[str], n: int) -> list[tuple[str, int]]:
    """The n most frequent content words over texts (each text counts a word once)."""
    counts: dict[str, int] = {}
    shown: dict[str, str] = {}
    for text in texts:
        for w in {w for w in words(text) if w not in STOPWORDS and len(w) > 2 and not w.isdigit()}:
            key = stem(w)
            counts[key] = counts.get(key, 0) + 1
            # Show the shortest surface form of a stem ("cell" rather than "cells").
            if key not in shown or len(w) < len(shown[key]):
                shown[key] = w
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], shown[kv[0]]))
    return [(shown[k], c) for k, c in ranked[:n]]
