"""Printed page labels read from the pages' own headers and footers.

A PDF cut out of a handbook starts at physical page 1 but prints "7-45"; front matter prints
"iii". When the file has no /PageLabels tree, that printed label is what a reader quotes, so it
is read from the page's first and last lines: a line that is only a label ("7-45", "xii", "12"),
a "page 3 of 10" / "page 3 sur 10" / "página 3" footer, or a short running header that starts
or ends with the label ("CHAPTER 7. NONLINEAR PROBLEMS 45").

A number at a page's edge is not always its label (a table's last row, an index entry), so in a
document of several pages a label counts only when another page agrees with it: same style and
prefix, and a value that grows by one per physical page. A page between two agreeing pages that
prints no label (a chapter opening) gets the one the sequence gives it. A one-page document has
no neighbour to agree with, so only the unmistakable forms count there: a line that is only a
label, or a footer that says "page".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["detect_printed_labels"]

_LABEL = r"(?:[A-Z]?\d{1,3}[-–.]\d{1,4}|\d{1,4}|[ivxlcdm]{1,8}|[IVXLCDM]{1,8})"
_PAGE_WORD = r"(?:page|p\.|pg\.?|pág\.?|página|pagina|seite|s\.|стр\.?)"
_OF = r"(?:of|sur|de|von|di|/)"
# A line that is only a label, optionally with "page" before it and "of N" after it.
_ALONE = re.compile(rf"^(?:{_PAGE_WORD}\s*)?({_LABEL})(?:\s*{_OF}\s*\d{{1,4}})?$", re.IGNORECASE)
# A footer ending in "page 3 sur 10" after other words (a title, a date).
_PAGE_FOOTER = re.compile(
    rf"(?:^|\s){_PAGE_WORD}\s*({_LABEL})(?:\s+{_OF}\s+\d{{1,4}})?$", re.IGNORECASE
)
# A running header or footer that starts or ends with the label.
_HEADER_START = re.compile(rf"^({_LABEL})\s+\S")
_HEADER_END = re.compile(rf"\S\s+({_LABEL})$")
_LEADERS = re.compile(r"(?:\.\s*){3,}|…")
_ROMAN = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")
_COMPOUND = re.compile(r"^([A-Z]?\d{1,3}[-–.])(\d{1,4})$")
_EDGE_LINES = 2
_MAX_HEADER_CHARS = 80
_ROMAN_VALUES = (
    (1000, "m"),
    (900, "cm"),
    (500, "d"),
    (400, "cd"),
    (100, "c"),
    (90, "xc"),
    (50, "l"),
    (40, "xl"),
    (10, "x"),
    (9, "ix"),
    (5, "v"),
    (4, "iv"),
    (1, "i"),
)


@dataclass(frozen=True, slots=True)
class _Label:
    text: str
    style: str  # "arabic", "roman", "ROMAN"
    prefix: str
    value: int
    strong: bool  # a line of its own or a "page N" footer

    def key(self, index: int) -> tuple[str, str, int]:
        """What pages of one numbering share: style, prefix and value minus page index."""
        return (self.style, self.prefix, self.value - index)


def _roman_value(text: str) -> int | None:
    upper = text.upper()
    if not upper or not _ROMAN.match(upper):
        return None
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(upper):
        value = values[ch]
        total += -value if i + 1 < len(upper) and values[upper[i + 1]] > value else value
    return total


def _to_roman(value: int) -> str:
    out = []
    for number, letters in _ROMAN_VALUES:
        while value >= number:
            out.append(letters)
            value -= number
    return "".join(out)


def _parse(text: str, *, strong: bool) -> _Label | None:
    compound = _COMPOUND.match(text)
    if compound:
        return _Label(text, "arabic", compound.group(1), int(compound.group(2)), strong)
    if text.isdigit():
        number = int(text)
        return _Label(text, "arabic", "", number, strong) if number > 0 else None
    value = _roman_value(text)
    if value is None or (text != text.lower() and text != text.upper()):
        return None
    return _Label(text, "roman" if text.islower() else "ROMAN", "", value, strong)


def _candidates(text: str) -> list[_Label]:
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    edges = lines[:_EDGE_LINES] + lines[-_EDGE_LINES:] if len(lines) > _EDGE_LINES else lines
    found: list[_Label] = []
    for line in dict.fromkeys(edges):
        # A label alone on its line, or a footer ending in "page 3": either is a strong label.
        strong = _ALONE.match(line) or _PAGE_FOOTER.search(line)
        if strong:
            label = _parse(strong.group(1), strong=True)
            if label is not None:
                found.append(label)
            continue
        if len(line) > _MAX_HEADER_CHARS or _LEADERS.search(line):
            continue  # a table-of-contents line ends in a page number too
        for pattern in (_HEADER_START, _HEADER_END):
            match = pattern.search(line)
            if match:
                label = _parse(match.group(1), strong=False)
                # A lone roman letter starting a header is a word ("I think", "A").
                if label is not None and (label.style == "arabic" or len(label.text) > 1):
                    found.append(label)
    return found


def _render(style: str, prefix: str, value: int) -> str:
    if style == "arabic":
        return f"{prefix}{value}"
    roman = _to_roman(value)
    return roman if style == "roman" else roman.upper()


def detect_printed_labels(texts: Sequence[str]) -> list[str | None]:
    """Each page's printed label read from its text, None where none can be trusted."""
    candidates = [_candidates(text) for text in texts]
    if len(texts) == 1:
        strong = [label for label in candidates[0] if label.strong]
        return [strong[0].text if strong else None]
    support = Counter(
        key for index, labels in enumerate(candidates) for key in {c.key(index) for c in labels}
    )
    chosen: list[tuple[tuple[str, str, int], str] | None] = []
    for index, labels in enumerate(candidates):
        agreed = [c for c in labels if support[c.key(index)] >= 2]
        if not agreed:
            chosen.append(None)
            continue
        best = max(agreed, key=lambda c: (support[c.key(index)], c.strong))
        chosen.append((best.key(index), best.text))
    result: list[str | None] = [pick[1] if pick else None for pick in chosen]
    # A page inside a run of one numbering that prints nothing (a chapter opening, a figure)
    # takes the label the run gives it.
    last_seen: tuple[int, tuple[str, str, int]] | None = None
    for index, pick in enumerate(chosen):
        if pick is None:
            continue
        key = pick[0]
        if last_seen is not None and last_seen[1] == key:
            for gap in range(last_seen[0] + 1, index):
                style, prefix, offset = key
                result[gap] = _render(style, prefix, offset + gap)
        last_seen = (index, key)
    return result
