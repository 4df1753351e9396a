"""Query-biased excerpts: the part of a chunk that matches a query, its matching words marked.

A search hit carries the whole chunk in `text` (what was found, what the tutor reads) and this
short `excerpt` for display. The excerpt is the window of the chunk holding the most distinct
query terms (the same folded, plural-stripped terms BM25 matched), cut at word boundaries, with
every matching word wrapped in `**…**` (Markdown bold: readable as plain text, rendered by any
Markdown client). Asterisks already in the text are left alone; the marks only wrap words.
"""

from __future__ import annotations

import re

from studyhall.knowledge.index import tokenize

__all__ = ["MARK", "query_excerpt"]

MARK = "**"
_WORD = re.compile(r"[^\W_]+")


def _terms(word: str) -> set[str]:
    return set(tokenize(word))


def query_excerpt(text: str, query: str, limit: int = 320) -> str:
    """The window of `text` (about `limit` characters) richest in query terms, matches marked."""
    text = " ".join(text.split())
    wanted = set(tokenize(query))
    words = [(m.start(), m.end(), _terms(m.group())) for m in _WORD.finditer(text)]
    hits = [(start, end, terms & wanted) for start, end, terms in words if terms & wanted]
    start, end = _best_window(text, hits, limit)
    marked: list[str] = []
    cursor = start
    for hit_start, hit_end, _ in hits:
        if hit_start < start or hit_end > end:
            continue
        marked.append(text[cursor:hit_start])
        marked.append(f"{MARK}{text[hit_start:hit_end]}{MARK}")
        cursor = hit_end
    marked.append(text[cursor:end])
    body = "".join(marked).strip()
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return prefix + body + suffix


def _best_window(text: str, hits: list[tuple[int, int, set[str]]], limit: int) -> tuple[int, int]:
    """(start, end) of the window covering the most distinct terms, then the most hits."""
    if len(text) <= limit:
        return 0, len(text)
    best: tuple[int, int, int, int] | None = None  # (distinct terms, hits, -first, last end)
    for i, (first, _, _) in enumerate(hits):
        covered: set[str] = set()
        count = 0
        last = first
        for _, hit_end, terms in hits[i:]:
            if hit_end - first > limit:
                break
            covered |= terms
            count += 1
            last = hit_end
        if best is None or (len(covered), count, -first) > best[:3]:
            best = (len(covered), count, -first, last)
    anchor = 0
    if best is not None:
        first, last = -best[2], best[3]
        # Begin a little before the first match so it reads in context, without losing the last.
        anchor = max(0, first - min(limit // 6, max(0, limit - (last - first))))
    start = _word_start(text, anchor)
    end = _word_end(text, min(len(text), start + limit))
    return start, end


def _word_start(text: str, index: int) -> int:
    if index <= 0:
        return 0
    space = text.rfind(" ", 0, index)
    return space + 1 if space >= 0 else 0


def _word_end(text: str, index: int) -> int:
    if index >= len(text):
        return len(text)
    space = text.rfind(" ", 0, index)
    return space if space > 0 else index
