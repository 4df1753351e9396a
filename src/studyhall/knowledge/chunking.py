"""Split extracted pages into retrieval chunks that remember their page, heading and position.

Chunks never span two pages, so a citation's page is exact. Inside a page they are packed from
whole sentences up to `max_chars`, preferring to end at a paragraph once `target_chars` is
reached, start afresh at a section heading, and carry a small overlap of whole sentences when a
section is cut only because it is long.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from studyhall.knowledge.extraction.base import DocumentKind, ExtractedDocument, ExtractedPage

__all__ = [
    "Chunk",
    "ChunkingOptions",
    "chunk_document",
    "chunk_pages",
    "detect_heading",
    "split_sentences",
]


def _words(text: str) -> frozenset[str]:
    """A set of space-separated words (keeps long word lists readable)."""
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable piece of a document."""

    position: int  # 0-based order in the document
    page: int  # physical page, 1-based
    page_label: str | None  # printed label when it differs from the physical number
    heading: str | None  # nearest heading before the chunk's content
    text: str


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """Chunk sizes, in characters."""

    target_chars: int = 900
    max_chars: int = 1200
    overlap_chars: int = 200
    # A section shorter than this is not closed by the next heading: it joins the next section.
    min_chars: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.target_chars <= self.max_chars:
            raise ValueError("need 0 < target_chars <= max_chars")
        if not 0 <= self.overlap_chars < self.target_chars:
            raise ValueError("need 0 <= overlap_chars < target_chars")


# Formats whose extractor already marks headings with "#" (and only those) are "structured".
_STRUCTURED = frozenset({DocumentKind.MARKDOWN, DocumentKind.HTML, DocumentKind.DOCX})

_MD_HEADING = re.compile(r"^(#{1,6})\s+(\S.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)")
_BULLET = re.compile(r"^(?:[-*+•◦▪‣–—❑☐□■]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
# "1.2 Title", "3 Title", "Chapter 4 Title", "2. Title".
_NUMBERED = re.compile(
    r"^(?:(?:chapter|section|part|chapitre|partie|cap[ií]tulo|secci[oó]n|kapitel|teil|"
    r"lesson|unit|unidad|le[çc]on|module)\s+)?"
    r"(\d{1,3}(?:\.\d{1,3}){0,4})(\.?)\s+(\S.*)$",
    re.IGNORECASE,
)
_MATHY = re.compile(r"[=<>+±×÷∑∫√^_{}|\\∂∆∇≤≥≈]")
_LEADERS = re.compile(r"(?:\.\s*){3,}|…")
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:[-'’][^\W\d_]+)*")
# Words that stay lowercase inside a title (en, fr, es, de, pt, it).
_SMALL_WORDS = _words(
    "a an and as at but by for from in into of on or over per the to via vs with "
    "à au aux avec d de des du en et l la le les ou par pour sur un une "
    "al con del el las los para por y "
    "am an auf aus bei das dem den der des die ein eine für im in mit und von zu zum zur "
    "da das do dos e em na nas no nos o os "
    "di della delle dei il lo nel per"
)
_TERMINAL = (".", "!", "?", ":", ";", "。", "؟", "!", "?")
_ABBREVIATIONS = _words(
    "e.g i.e etc fig figs eq eqs dr mr mrs ms prof vs cf no nos vol pp p sec ch approx resp al "
    "st jr sr inc ltd co dept est max min ref refs ex art nr sra sr sres pág cap núm"
)
_HAS_WORD = re.compile(r"[^\W\d_]{2,}")
_INNER_SENTENCE_END = re.compile(r"[.!?]\s+\S")
_SENTENCE_END = re.compile(r"[.!?…。؟!?]+[\"'”’»)\]]*(?=\s)|[。؟!?]")


def chunk_document(
    document: ExtractedDocument, *, options: ChunkingOptions | None = None
) -> list[Chunk]:
    """Split a document into chunks (heading detection depends on the document's kind)."""
    return chunk_pages(document.pages, structured=document.kind in _STRUCTURED, options=options)


def chunk_pages(
    pages: Sequence[ExtractedPage],
    *,
    structured: bool = False,
    options: ChunkingOptions | None = None,
) -> list[Chunk]:
    """Split pages into chunks; structured=True trusts only "#" headings (markdown, HTML, DOCX)."""
    options = options or ChunkingOptions()
    chunks: list[Chunk] = []
    heading: str | None = None
    running = set() if structured else _running_lines(pages)
    for page in pages:
        if not page.text.strip():
            continue
        packer = _Packer(options, page, heading, start_position=len(chunks))
        body = _strip_page_number(page)
        if running:
            body = _strip_running_lines(body, running)
        for kind, text in _blocks(body, structured, _Layout.of(page)):
            if kind == "heading":
                heading = text
                packer.heading(text)
            elif kind == "margin":
                packer.margin(text)
            elif kind == "code":
                packer.code(text)
            else:
                packer.paragraph(text)
        chunks.extend(packer.finish())
        heading = packer.current_heading
    return chunks


def _strip_page_number(page: ExtractedPage) -> str:
    """Drop a first or last line that only repeats the page's number or label (a running foot)."""
    lines = page.text.strip().split("\n")
    marks = {str(page.number), page.label}
    if lines and lines[-1].strip() in marks:
        lines.pop()
    if lines and lines[0].strip() in marks:
        lines.pop(0)
    return "\n".join(lines)


# Running headers and footers sit in a page's first or last few lines.
_EDGE_LINES = 3
_RUNNING_MAX_CHARS = 80
_DIGITS = re.compile(r"\d+")


def _line_key(line: str) -> str:
    """A line with its numbers blanked: "Slides 3 / 40" and "Slides 4 / 40" are one footer."""
    return _DIGITS.sub("#", " ".join(line.split()).casefold())


def _edges(lines: list[str]) -> list[str]:
    lines = [line for line in lines if line.strip()]
    if len(lines) <= 2 * _EDGE_LINES:
        return lines
    return lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]


def _running_lines(pages: Sequence[ExtractedPage]) -> set[str]:
    """Keys of lines repeated at the top or bottom of most pages (running headers, footers).

    A deck's "FNx · EDIT THESE SLIDES! · 3" on every slide is not content, and as a short line
    at a page's edge it would otherwise become the heading of every chunk.
    """
    with_text = [page for page in pages if page.text.strip()]
    if len(with_text) < 3:
        return set()
    counts: dict[str, int] = {}
    for page in with_text:
        for key in {_line_key(line) for line in _edges(page.text.split("\n"))}:
            # Only short lines: a sentence that recurs is content, however often it recurs.
            if len(key) <= _RUNNING_MAX_CHARS and _HAS_WORD.search(key):
                counts[key] = counts.get(key, 0) + 1
    needed = max(3, len(with_text) // 2)
    return {key for key, count in counts.items() if count >= needed}


def _strip_running_lines(text: str, running: set[str]) -> str:
    lines = text.split("\n")
    edges = set(_edges(lines))
    return "\n".join(line for line in lines if not (line in edges and _line_key(line) in running))


def _layout_key(line: str) -> str:
    """Letters and digits only: the same line in the page text and in the layout's list."""
    return "".join(ch for ch in line.casefold() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class _Layout:
    """A PDF page's layout verdicts (see ExtractedPage.headings), as line keys."""

    headings: dict[str, tuple[float, bool]]  # key -> (size of the letters, wraps the line above)
    emphasized: frozenset[str]
    margins: frozenset[str]

    @classmethod
    def of(cls, page: ExtractedPage) -> _Layout | None:
        if page.headings is None:
            return None
        return cls(
            {_layout_key(line): (size, wraps) for line, size, wraps in page.headings},
            frozenset(_layout_key(line) for line in page.emphasized or ()),
            frozenset(_layout_key(line) for line in page.margins or ()),
        )

    def judge(self, line: str, next_line: str | None) -> tuple[str, str, float | None, bool]:
        """(kind, text, size, wraps): a larger line is a heading whatever its words; a bold one
        if it reads like a title; a running head is page furniture; any other line is text (a
        footer or a Title Case sentence in the body's size and weight never titles anything)."""
        key = _layout_key(line)
        if key in self.headings:
            size, wraps = self.headings[key]
            return "heading", line, size, wraps
        if key in self.margins:
            return "margin", line, None, False
        if key in self.emphasized:
            title = detect_heading(line, None, next_line, structured=False, bold=True)
            if title is not None:
                return "heading", title, None, False
        return "text", line, None, False


# A heading set over several lines (a long slide title) is joined up to this length.
_MAX_JOINED_HEADING = 150


def _blocks(text: str, structured: bool, layout: _Layout | None) -> Iterator[tuple[str, str]]:
    """Yield ("heading" | "paragraph" | "code" | "margin", text) blocks in reading order."""
    pending: str | None = None  # a larger heading line that the next one may wrap
    for kind, block, size, wraps in _blocks_of(text, structured, layout):
        if pending is not None:
            joined = f"{pending} {block}"
            if (
                kind == "heading"
                and wraps
                and size is not None
                and len(joined) <= _MAX_JOINED_HEADING
            ):
                pending = joined
                continue
            yield "heading", pending
            pending = None
        if kind == "heading" and size is not None:
            pending = block
        else:
            yield kind, block
    if pending is not None:
        yield "heading", pending


_Block = tuple[str, str, float | None, bool]  # kind, text, a larger heading's size, wraps


def _blocks_of(text: str, structured: bool, layout: _Layout | None) -> Iterator[_Block]:
    joiner = "\n" if structured else " "
    paragraph: list[str] = []
    fence: list[str] | None = None
    prev_line: str | None = None
    lines = [raw.strip() for raw in text.split("\n")]

    def close() -> Iterator[_Block]:
        if paragraph:
            yield "paragraph", joiner.join(paragraph), None, False
            paragraph.clear()

    for index, line in enumerate(lines):
        if fence is not None:
            fence.append(line)
            if _FENCE.match(line):
                yield "code", "\n".join(fence), None, False
                fence = None
            prev_line = line
            continue
        if _FENCE.match(line):
            yield from close()
            fence = [line]
            continue
        if not line:
            yield from close()
            prev_line = None
            continue
        next_line = lines[index + 1] if index + 1 < len(lines) else None
        if layout is not None:
            kind, title, size, wraps = layout.judge(line, next_line or None)
        else:
            found = detect_heading(line, prev_line, next_line or None, structured=structured)
            kind, title, size, wraps = (
                ("text", line, None, False) if found is None else ("heading", found, None, False)
            )
        if kind != "text":
            yield from close()
            yield kind, title, size, wraps
            prev_line = None  # a heading ends a block like a blank line does
            continue
        if paragraph and _BULLET.match(line):
            # A list item starts a new paragraph even without a blank line (PDF text).
            yield from close()
        paragraph.append(line)
        prev_line = line
    yield from close()
    if fence is not None:  # an unclosed fence runs to the end of the page
        yield "code", "\n".join(fence), None, False


def detect_heading(
    line: str,
    prev_line: str | None = None,
    next_line: str | None = None,
    *,
    structured: bool,
    bold: bool = False,
) -> str | None:
    """Return the heading text if this line is a heading, else None.

    prev_line/next_line are the neighbouring lines of the same block (None at a block edge).
    Structured text (markdown, HTML, DOCX) has its headings marked with "#" and nothing else
    counts. In PDF and plain text: numbered short lines ("1.2 Linear versus nonlinear") and
    short Title Case lines that start a block; "#" lines there must look like titles too, since
    code listings are full of "# comments". A line the layout shows in bold (bold=True) stands
    apart by its weight: it need not start a block, and sentence case is enough ("Exercices sur
    les graphes", "Solución del problema").
    """
    line = line.strip()
    md = _MD_HEADING.match(line)
    if structured:
        return (md.group(2).strip() or None) if md else None
    if md:
        line = md.group(2).strip()
    if not 2 < len(line) <= 100 or line.endswith((".", ",", ";", ":")):
        return None
    if _MATHY.search(line) or _LEADERS.search(line):
        return None
    words = _WORD.findall(line)
    if not words or len(line.split()) > 14 or max(len(w) for w in words) < 3:
        return None
    if next_line and next_line[0].islower():
        return None  # the line runs on into the next one: a wrapped sentence
    numbered = _NUMBERED.match(line)
    if numbered:
        rest = numbered.group(3)
        # "1.1 Linear equations 4" is a table-of-contents line, "2. Compute the speed of ..." a
        # numbered exercise: only short "N." items that start with a capital are headings.
        if re.search(r"\s\d+$", rest) or not rest[0].isalpha() or not _starts_upper(rest):
            return None
        if numbered.group(2) and len(rest.split()) > 6:
            return None
        return line
    if _INNER_SENTENCE_END.search(line):
        return None  # "Linearization via Taylor expansions. Let u" is a run-in paragraph title
    if bold:
        return line if _starts_upper(words[0]) and len(words) <= 10 else None
    starts_block = prev_line is None or prev_line.endswith(_TERMINAL)
    # After a short line (a title page, a header) only a line followed by real text counts:
    # plot legends and table cells are runs of short Title Case lines.
    if not starts_block and (
        len(prev_line or "") >= 40 or len(line.split()) < 2 or len(next_line or "") < 30
    ):
        return None
    return line if _title_case(line, words) else None


def _starts_upper(text: str) -> bool:
    first = text[0]
    # Scripts without case (Arabic, Hebrew, CJK) cannot show Title Case; accept them.
    return first.isupper() or (first.isalpha() and first.lower() == first.upper())


def _title_case(line: str, words: list[str]) -> bool:
    if not _starts_upper(words[0]):
        return False
    if len(words) > 10 or sum(ch.isdigit() for ch in line) > 4:
        return False
    significant = [w for w in words if w.lower() not in _SMALL_WORDS]
    if not significant:
        return False
    upper = sum(1 for w in significant if _starts_upper(w))
    return upper / len(significant) >= 0.6


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping abbreviations ("e.g.", "Fig. 3") and initials whole."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if match.group().startswith(".") and _is_abbreviation(text, match.start()):
            continue
        following = text[end:].lstrip()
        if following and following[0].islower() and match.group()[0] in ".…":
            continue  # "approx. three" or an ellipsis inside a sentence
        piece = text[start:end].strip()
        if piece:
            sentences.append(piece)
        start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_abbreviation(text: str, dot: int) -> bool:
    begin = dot
    while begin > 0 and not text[begin - 1].isspace():
        begin -= 1
    word = text[begin:dot].lower().lstrip("([\"'")
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "P. Méchain"
    return word in _ABBREVIATIONS


def _split_long(sentence: str, limit: int) -> list[str]:
    """Cut a sentence longer than limit at spaces (or anywhere, for one enormous token)."""
    pieces: list[str] = []
    current = ""
    for word in sentence.split():
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) > limit:
            pieces.append(current)
            current = word
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


@dataclass(slots=True)
class _Unit:
    text: str
    paragraph_start: bool
    overlap: bool = False


class _Packer:
    """Packs one page's sentences into chunks."""

    def __init__(
        self,
        options: ChunkingOptions,
        page: ExtractedPage,
        heading: str | None,
        *,
        start_position: int,
    ) -> None:
        self.options = options
        self.page = page
        self.current_heading = heading
        self.position = start_position
        self.chunks: list[Chunk] = []
        self.units: list[_Unit] = []
        self.length = 0
        self.body = 0  # characters that are neither headings nor overlap
        self.chunk_heading = heading

    def heading(self, title: str) -> None:
        """A section starts: close the chunk unless its section was too short to stand alone."""
        if self.body >= self.options.min_chars:
            self._flush(overlap=False)
        if self.length + len(title) > self.options.max_chars:
            if self.body:
                self._flush(overlap=False)
            else:  # a run of heading lines with nothing under them
                self.units, self.length = [], 0
        if self.body == 0:
            self.units = [u for u in self.units if not u.overlap]
            self.length = sum(len(u.text) + 1 for u in self.units)
        self.current_heading = title
        if self.body == 0 or self.chunk_heading is None:
            # A chunk takes the heading its content sits under; a document's untitled opening
            # lines are better labelled with the first heading than with none.
            self.chunk_heading = title
        self._add(_Unit(title, paragraph_start=True), body=False)

    def margin(self, text: str) -> None:
        """A running head: kept with the text, but not content that a heading would label."""
        self._add(_Unit(text, paragraph_start=True), body=False)

    def paragraph(self, text: str) -> None:
        """Add a paragraph sentence by sentence."""
        limit = self.options.max_chars
        first = True
        for sentence in split_sentences(text):
            for piece in _split_long(sentence, limit) if len(sentence) > limit else [sentence]:
                self._place(_Unit(piece, paragraph_start=first))
                first = False

    def code(self, text: str) -> None:
        """Add a code block: cut between lines only, and keep its line breaks."""
        limit = self.options.max_chars
        piece: list[str] = []
        size = 0
        for line in text.split("\n"):
            for part in _split_long(line, limit) if len(line) > limit else [line]:
                if piece and size + len(part) + 1 > limit:
                    self._place(_Unit("\n".join(piece), paragraph_start=True))
                    piece, size = [], 0
                piece.append(part)
                size += len(part) + 1
        if piece:
            self._place(_Unit("\n".join(piece), paragraph_start=True))

    def _place(self, unit: _Unit) -> None:
        opts = self.options
        projected = self.length + len(unit.text)
        if self.body and (
            projected > opts.max_chars
            or (self.length >= opts.target_chars and unit.paragraph_start)
        ):
            self._flush(overlap=True)
            if self.length + len(unit.text) > opts.max_chars:
                # The overlap and this sentence do not fit together: drop the overlap.
                self.units, self.length = [], 0
        if self.body == 0:
            self.chunk_heading = self.current_heading
        self._add(unit, body=True)

    def _add(self, unit: _Unit, *, body: bool) -> None:
        self.units.append(unit)
        self.length += len(unit.text) + 1
        if body:
            self.body += len(unit.text)

    def _flush(self, *, overlap: bool) -> None:
        if not self.body:
            return
        text = _join(self.units)
        if not _HAS_WORD.search(text):
            # Nothing but numbers and symbols (an equation's debris, a page number): no chunk.
            self.units, self.length, self.body = [], 0, 0
            return
        self.chunks.append(
            Chunk(
                position=self.position,
                page=self.page.number,
                page_label=self.page.label,
                heading=self.chunk_heading,
                text=text,
            )
        )
        self.position += 1
        carried: list[_Unit] = []
        if overlap and self.options.overlap_chars:
            size = 0
            for unit in reversed(self.units):
                if size + len(unit.text) > self.options.overlap_chars:
                    break
                carried.insert(0, _Unit(unit.text, unit.paragraph_start, overlap=True))
                size += len(unit.text) + 1
        self.units = carried
        self.length = sum(len(u.text) + 1 for u in carried)
        self.body = 0

    def finish(self) -> list[Chunk]:
        """Close the page; a tiny last piece joins the previous chunk when it fits."""
        if self.body:
            tail = _join([u for u in self.units if not u.overlap])
            last = self.chunks[-1] if self.chunks else None
            if (
                last is not None
                and self.body < self.options.min_chars
                and len(last.text) + 1 + len(tail) <= self.options.max_chars
                and last.heading == self.chunk_heading
            ):
                self.chunks[-1] = Chunk(
                    position=last.position,
                    page=last.page,
                    page_label=last.page_label,
                    heading=last.heading,
                    text=f"{last.text}\n{tail}",
                )
            else:
                self._flush(overlap=False)
        return self.chunks


def _join(units: Sequence[_Unit]) -> str:
    parts: list[str] = []
    for unit in units:
        if parts:
            parts.append("\n" if unit.paragraph_start else " ")
        parts.append(unit.text)
    return "".join(parts)
