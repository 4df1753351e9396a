"""Citation numbers that match the sources list: [1], [2], … in order of first use, no gaps.

A model cites passages by their number in the prompt ([2], [5]); the message's `sources` lists
only the cited ones. Renumbering in order of first appearance makes the n-th source `[n]`.
It works on a stream too: a citation cut between two pieces ("… [", "3] …") is held back until
it is complete, so the streamed text and the stored text are the same. A number that names no
passage (a model inventing `[9]` with five passages) is dropped rather than shown as a source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from studyhall.tutor.providers.base import SourcePassage

__all__ = ["Renumbering", "renumber", "renumbered_passages"]

_CITATION = re.compile(r"\[(\d{1,2})\]")
# An unfinished citation at the end of a piece: "[", "[1", "[12".
_OPEN_TAIL = re.compile(r"\[\d{0,2}$")


class Renumbering:
    """Rewrites citation numbers piece by piece; `mapping` is old number → new number."""

    def __init__(self, valid: Iterable[int]) -> None:
        self.valid = set(valid)
        self.mapping: dict[int, int] = {}
        self._tail = ""

    def _number(self, match: re.Match[str]) -> str:
        old = int(match.group(1))
        if old not in self.valid:
            return ""
        new = self.mapping.setdefault(old, len(self.mapping) + 1)
        return f"[{new}]"

    def feed(self, piece: str) -> str:
        """The piece rewritten, minus a trailing unfinished citation (kept for the next one)."""
        text = self._tail + piece
        tail = _OPEN_TAIL.search(text)
        self._tail = tail.group(0) if tail else ""
        if tail:
            text = text[: tail.start()]
        return _CITATION.sub(self._number, text)

    def flush(self) -> str:
        """Whatever was held back at the end of the stream."""
        text, self._tail = self._tail, ""
        return _CITATION.sub(self._number, text)


def renumber(text: str, valid: Iterable[int]) -> tuple[str, dict[int, int]]:
    """The whole text renumbered, and the old → new mapping."""
    renumbering = Renumbering(valid)
    out = renumbering.feed(text) + renumbering.flush()
    return out, renumbering.mapping


def renumbered_passages(
    passages: list[SourcePassage], mapping: dict[int, int]
) -> list[SourcePassage]:
    """The cited passages under their new numbers (all of them, as they were, when none is)."""
    if not mapping:
        return passages
    out = [replace(p, index=mapping[p.index]) for p in passages if p.index in mapping]
    return sorted(out, key=lambda p: p.index)
