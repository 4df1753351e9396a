"""Types shared by every extractor: the extracted document, its pages, limits and errors."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DocumentKind(StrEnum):
    """A document format recognised from its content."""

    PDF = "pdf"
    DOCX = "docx"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


class ExtractionError(Exception):
    """The document could not be turned into text (corrupt, hostile, too large or too slow)."""


class UnsupportedType(ExtractionError):
    """The content is not a format we extract (image, archive, executable, ...)."""


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """One page of text: physical number (1-based), printed label if it differs, and text."""

    number: int
    label: str | None
    text: str
    has_text: bool
    ocr: bool = False
    # From the page's layout, where one was read (None: the text alone is judged): the lines set
    # as headings (larger than the body text) with their letters' size and whether each wraps
    # the heading line above it; the lines emphasized (bold at body size); the running head's
    # lines (page furniture at the top, neither content to label nor a heading).
    headings: tuple[tuple[str, float, bool], ...] | None = None
    emphasized: tuple[str, ...] | None = None
    margins: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """The text of a document, page by page (one page for formats without pages)."""

    kind: DocumentKind
    pages: list[ExtractedPage]
    title: str | None = None

    @property
    def text(self) -> str:
        """All pages' text joined by blank lines (handy for tests and previews)."""
        return "\n\n".join(p.text for p in self.pages if p.text)


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    """Bounds that keep one hostile or huge upload from exhausting a worker."""

    # Input size is checked before any parsing; uploads are normally capped earlier too.
    max_bytes: int = 100 * 1024 * 1024
    max_pages: int = 2000
    # Wall-clock budget for a whole document, OCR included.
    time_budget_s: float = 300.0
    # Address-space cap for the isolated PDF parser process (RLIMIT_AS).
    max_memory_mb: int = 1536
    # Text we keep per page and per document; beyond this the content is not course material.
    max_chars_per_page: int = 200_000
    max_chars: int = 20_000_000
    # Largest uncompressed size of a DOCX (zip) member, against zip bombs.
    max_unzipped_bytes: int = 200 * 1024 * 1024
    # Run the PDF parser in a child process with resource limits (see pdf.py for the cost).
    isolate_pdf: bool = True
    ocr: bool = True
    ocr_languages: str = "eng"
    ocr_dpi: int = 200
    # Deepest element nesting accepted in HTML/DOCX trees.
    max_depth: int = 512


def single_page(
    kind: DocumentKind, text: str, *, title: str | None, limits: ExtractionLimits, what: str
) -> ExtractedDocument:
    """A format without pages (DOCX, HTML, Markdown, text) as one page, within the document's
    character limit (`what` names the file in the error: "the page", "the document", ...)."""
    if len(text) > limits.max_chars:
        raise ExtractionError(f"{what} holds more than {limits.max_chars} characters")
    page = ExtractedPage(number=1, label=None, text=text, has_text=bool(text), ocr=False)
    return ExtractedDocument(kind=kind, pages=[page], title=title)
