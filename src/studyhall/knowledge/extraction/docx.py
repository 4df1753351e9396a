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
    ExtractionError,
    ExtractionLimits,
    single_page,
)
from studyhall.knowledge.extraction.isolation import run_isolated_worker
from studyhall.knowledge.extraction.normalize import normalize_text
from studyhall.knowledge.extraction.zipsafe import UnsafeZip, inflate_members, repack_verified

__all__ = ["docx_raw", "extract_docx"]

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_MAX_ZIP_ENTRIES = 10_000


def extract_docx(data: bytes, *, limits: ExtractionLimits | None = None) -> ExtractedDocument:
    """Extract a Word document as one page; headings become "#" lines the chunker recognises.

    Like PDFs, the archive is parsed in a child process with memory, CPU and wall-clock limits
    (unless `limits.isolate_pdf` is off): a zip can lie about its sizes and python-docx/lxml
    allocate freely, so the worst a hostile file may do is kill that child.
    """
    limits = limits or ExtractionLimits()
    if len(data) > limits.max_bytes:
        raise ExtractionError(f"the document is larger than {limits.max_bytes} bytes")
    if limits.isolate_pdf:
        result = run_isolated_worker(
            "studyhall.knowledge.extraction._docx_worker",
            data,
            {"max_unzipped_bytes": limits.max_unzipped_bytes},
            limits,
            what="DOCX",
        )
    else:
        result = docx_raw(data, max_unzipped_bytes=limits.max_unzipped_bytes)
    if not result.get("ok"):
        raise ExtractionError(str(result.get("error")))
    text = normalize_text(str(result["text"]))
    title = result.get("title")
    return single_page(
        DocumentKind.DOCX,
        text,
        title=str(title) if title else None,
        limits=limits,
        what="the document",
    )


def docx_raw(data: bytes, *, max_unzipped_bytes: int) -> dict[str, object]:
    """{"ok": True, "title", "text"} (text not yet normalised) or {"ok": False, "error"}."""
    try:
        members = inflate_members(data, max_total=max_unzipped_bytes, max_entries=_MAX_ZIP_ENTRIES)
    except UnsafeZip as exc:
        return {"ok": False, "error": f"unsafe DOCX: {exc}"}
    try:
        # Only verified bytes reach python-docx, stored uncompressed: nothing left to inflate.
        document = Document(io.BytesIO(repack_verified(members)))
    except (PackageNotFoundError, XMLSyntaxError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        # lxml refuses trees deeper than 256 levels, so deep nesting lands here too.
        return {"ok": False, "error": f"not a readable DOCX file ({exc})"}
    del members
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
    return {"ok": True, "title": title, "text": "\n".join(lines)}


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
