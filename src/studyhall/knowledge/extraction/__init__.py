"""Turn uploaded files into normalised text, page by page.

`extract(data, filename)` recognises the format from the bytes and dispatches to the PDF, DOCX,
HTML or markdown/text extractor. Everything here is pure (no database, no network).
"""

from __future__ import annotations

from studyhall.knowledge.extraction.base import (
    DocumentKind,
    ExtractedDocument,
    ExtractedPage,
    ExtractionError,
    ExtractionLimits,
    UnsupportedType,
)
from studyhall.knowledge.extraction.docx import extract_docx
from studyhall.knowledge.extraction.html import extract_html
from studyhall.knowledge.extraction.normalize import normalize_text
from studyhall.knowledge.extraction.pdf import extract_pdf
from studyhall.knowledge.extraction.sniff import sniff
from studyhall.knowledge.extraction.text import extract_text

__all__ = [
    "DocumentKind",
    "ExtractedDocument",
    "ExtractedPage",
    "ExtractionError",
    "ExtractionLimits",
    "UnsupportedType",
    "extract",
    "normalize_text",
    "sniff",
]


def extract(
    data: bytes, filename: str | None = None, *, limits: ExtractionLimits | None = None
) -> ExtractedDocument:
    """Sniff the content and extract it; raises UnsupportedType or ExtractionError.

    Blocking (PDFs run in a child process, OCR can take seconds a page): call it from a job or
    through `asyncio.to_thread`.
    """
    kind = sniff(data, filename)
    if kind is DocumentKind.PDF:
        return extract_pdf(data, limits=limits)
    if kind is DocumentKind.DOCX:
        return extract_docx(data, limits=limits)
    if kind is DocumentKind.HTML:
        return extract_html(data, limits=limits)
    return extract_text(data, markdown=kind is DocumentKind.MARKDOWN, limits=limits)
