"""DOCX extraction with python-docx: body paragraphs and tables in order, headings as markdown."""

from __future__ import annotations

import io
import re
import zipfile

from docx import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml.etree import XMLSyntaxError

from studyhall.knowledge.extraction.base import (
    DocumentKind,
    ExtractedDocument,
    ExtractedPage,
    ExtractionError,
    ExtractionLimits,
)
from studyhall.knowledge.extraction.normalize import normalize_text

__all__ = ["extract_docx"]

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_MAX_ZIP_ENTRIES = 10_000


def extract_docx(data: bytes, *, limits: ExtractionLimits | None = None) -> ExtractedDocument:
    """Extract a Word document as one page; headings become "#" lines the chunker recognises."""
    limits = limits or ExtractionLimits()
    if len(data) > limits.max_bytes:
        raise ExtractionError(f"the document is larger than {limits.max_bytes} bytes")
    _check_zip(data, limits)
    try:
        document = Document(io.BytesIO(data))
    except (PackageNotFoundError, XMLSyntaxError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        # lxml refuses trees deeper than 256 levels, so deep nesting lands here too.
        raise ExtractionError(f"not a readable DOCX file ({exc})") from exc
    lines: list[str] = []
    title = (document.core_properties.title or "").strip() or None
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            line, is_title = _paragraph_line(block)
            if is_title and title is None:
                title = block.text.strip() or None
            lines.append(line)
        elif isinstance(block, Table):
            lines.extend(_table_lines(block))
            lines.append("")
    text = normalize_text("\n".join(lines))
    if len(text) > limits.max_chars:
        raise ExtractionError(f"the document holds more than {limits.max_chars} characters")
    page = ExtractedPage(number=1, label=None, text=text, has_text=bool(text), ocr=False)
    return ExtractedDocument(kind=DocumentKind.DOCX, pages=[page], title=title)


def _check_zip(data: bytes, limits: ExtractionLimits) -> None:
    """Refuse zip bombs before python-docx inflates anything.

    zipfile never inflates a member past its declared size, so the declared sizes are a safe cap.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ExtractionError(f"not a readable DOCX file ({exc})") from exc
    if len(infos) > _MAX_ZIP_ENTRIES:
        raise ExtractionError(f"the DOCX archive has {len(infos)} entries")
    total = sum(info.file_size for info in infos)
    if total > limits.max_unzipped_bytes:
        raise ExtractionError(
            f"the DOCX inflates to {total} bytes (limit {limits.max_unzipped_bytes})"
        )


def _paragraph_line(paragraph: Paragraph) -> tuple[str, bool]:
    text = paragraph.text.strip()
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if not text:
        return "", False
    if style.lower() == "title":
        return f"# {_one_line(text)}", True
    match = _HEADING_STYLE.match(style)
    if match:
        level = min(6, max(1, int(match.group(1))))
        return f"{'#' * level} {_one_line(text)}", False
    if style.lower().startswith("list"):
        return f"- {text}", False
    return text, False


def _table_lines(table: Table) -> list[str]:
    lines = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            value = _one_line(cell.text)
            # Merged cells come back once per grid column; keep one copy.
            if value and (not cells or cells[-1] != value):
                cells.append(value)
        if cells:
            lines.append(" | ".join(cells))
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.split())
