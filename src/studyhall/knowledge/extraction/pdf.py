"""PDF extraction: page by page, pypdfium2 first, pypdf as fallback, OCR for scanned pages.

A hostile PDF can make a parser allocate gigabytes (a FlateDecode stream that inflates 1000:1) or
abort the whole process (pdfium calls abort() when an allocation fails). So by default the parser
runs in a child process with an address-space limit (RLIMIT_AS), a CPU limit and a wall-clock
timeout: the worst a PDF can do is kill that child. The child is a plain script importing only
pypdfium2 (pypdf and pytesseract when needed); starting it costs about 60-150 ms per document,
which is small next to extraction itself (about 0.15 s for a 65-page textbook chapter) and tiny
next to embedding the chunks, so isolation is the default. `isolate_pdf=False` runs the same code
in-process (trusted files, tests), keeping the page-count and time limits but not the memory one.

This function blocks; async callers run it with `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np

from studyhall.knowledge.extraction import _pdf_worker
from studyhall.knowledge.extraction.base import (
    DocumentKind,
    ExtractedDocument,
    ExtractedPage,
    ExtractionError,
    ExtractionLimits,
)
from studyhall.knowledge.extraction.isolation import run_isolated_worker
from studyhall.knowledge.extraction.ligatures import repair_lost_ligatures
from studyhall.knowledge.extraction.normalize import normalize_text
from studyhall.knowledge.extraction.page_labels import detect_printed_labels

__all__ = ["MAX_NESTING", "extract_pdf", "max_nesting_depth"]

log = logging.getLogger(__name__)

# Real PDFs nest arrays and dictionaries a handful of levels deep; pdfium itself gives up at 64.
MAX_NESTING = 100
_WORKER_MODULE = _pdf_worker.__name__
_STREAM_START = re.compile(rb"(?<!end)stream\r?\n")


def extract_pdf(
    data: bytes, *, limits: ExtractionLimits | None = None, backend: str = "auto"
) -> ExtractedDocument:
    """Extract a PDF's pages (backend: "auto" = pdfium then pypdf, "pdfium" or "pypdf")."""
    limits = limits or ExtractionLimits()
    if backend not in ("auto", "pdfium", "pypdf"):
        raise ValueError(f"unknown PDF backend {backend!r}")
    if len(data) > limits.max_bytes:
        raise ExtractionError(f"the PDF is larger than {limits.max_bytes} bytes")
    depth = max_nesting_depth(data)
    if depth > MAX_NESTING:
        raise ExtractionError(
            f"the PDF's arrays/dictionaries are nested {depth} levels deep (limit {MAX_NESTING})"
        )
    config: _pdf_worker.WorkerConfig = {
        "max_pages": limits.max_pages,
        "deadline_s": limits.time_budget_s,
        "ocr": limits.ocr,
        "ocr_languages": limits.ocr_languages,
        "ocr_dpi": limits.ocr_dpi,
        "max_chars_per_page": limits.max_chars_per_page,
        "backend": backend,
    }
    result = (
        run_isolated_worker(_WORKER_MODULE, data, dict(config), limits, what="PDF")
        if limits.isolate_pdf
        else _pdf_worker.run(data, config)
    )
    if not result.get("ok"):
        raise ExtractionError(f"{result.get('error')} [{result.get('code')}]")
    return _to_document(result, limits)


def _to_document(result: dict[str, Any], limits: ExtractionLimits) -> ExtractedDocument:
    pages: list[ExtractedPage] = []
    total = 0
    # OCR output is clean Unicode: the text-layer repairs could only do harm there.
    texts = [normalize_text(raw["text"], pdf_repairs=not raw["ocr"]) for raw in result["pages"]]
    text_layer = [i for i, raw in enumerate(result["pages"]) if not raw["ocr"]]
    # Lost ligatures are judged over the whole document: one page is too little evidence.
    for i, fixed in zip(
        text_layer, repair_lost_ligatures([texts[i] for i in text_layer]), strict=True
    ):
        texts[i] = fixed
    labels: list[str | None] = [raw["label"] for raw in result["pages"]]
    if not any(labels):
        # No /PageLabels: the label a reader quotes is the one printed on the page.
        labels = [
            None if printed == str(raw["number"]) else printed
            for raw, printed in zip(result["pages"], detect_printed_labels(texts), strict=True)
        ]
    for raw, text, label in zip(result["pages"], texts, labels, strict=True):
        total += len(text)
        if total > limits.max_chars:
            raise ExtractionError(f"the PDF holds more than {limits.max_chars} characters of text")
        pages.append(
            ExtractedPage(
                number=int(raw["number"]),
                label=label,
                text=text,
                has_text=bool(text.strip()),
                ocr=bool(raw["ocr"]),
                headings=_sized_lines(raw.get("headings")),
                emphasized=_lines(raw.get("emphasized")),
                margins=_lines(raw.get("margins")),
            )
        )
    title = result.get("title")
    return ExtractedDocument(
        kind=DocumentKind.PDF,
        pages=pages,
        title=normalize_text(title) or None if title else None,
    )


def _sized_lines(raw: list[list[Any]] | None) -> tuple[tuple[str, float, bool], ...] | None:
    """Layout headings ([line, size, wraps]) normalised like the page text."""
    if raw is None:
        return None
    found = [
        (normalize_text(str(text), pdf_repairs=True).strip(), float(size), bool(wraps))
        for text, size, wraps in raw
    ]
    return tuple(heading for heading in found if heading[0])


def _lines(raw: list[str] | None) -> tuple[str, ...] | None:
    """Layout lines normalised like the page text, so the chunker finds them in it."""
    if raw is None:
        return None
    return tuple(
        line for line in (normalize_text(item, pdf_repairs=True).strip() for item in raw) if line
    )


def max_nesting_depth(data: bytes) -> int:
    """Deepest nesting of arrays and dictionaries outside streams (a cheap bytes-level scan)."""
    best = 0
    start = 0
    while start < len(data):
        match = _STREAM_START.search(data, start)
        end = match.start() if match else len(data)
        best = max(best, _region_depth(data[start:end]))
        if not match:
            break
        stream_end = data.find(b"endstream", match.end())
        start = len(data) if stream_end < 0 else stream_end + len(b"endstream")
    return best


def _region_depth(region: bytes) -> int:
    if not region:
        return 0
    a = np.frombuffer(region, dtype=np.uint8)
    events = [
        (np.flatnonzero(a == ord("[")), 1),
        (np.flatnonzero(a == ord("]")), -1),
    ]
    if len(a) > 1:
        events.append((np.flatnonzero((a[:-1] == ord("<")) & (a[1:] == ord("<"))), 1))
        events.append((np.flatnonzero((a[:-1] == ord(">")) & (a[1:] == ord(">"))), -1))
    positions = np.concatenate([pos for pos, _ in events])
    if positions.size == 0:
        return 0
    steps = np.concatenate([np.full(pos.size, step, dtype=np.int64) for pos, step in events])
    walk = np.cumsum(steps[np.argsort(positions, kind="stable")])
    # Depth clamped at zero: stray closers must not hide a deep run of openers after them.
    floor = np.minimum.accumulate(np.minimum(walk, 0))
    return int((walk - floor).max())
