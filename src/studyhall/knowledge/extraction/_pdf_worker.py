"""Raw PDF text extraction, meant to run in a throwaway child process with resource limits.

This file imports nothing from studyhall so the parent can start it as a plain script
(`python -I _pdf_worker.py CONFIG_JSON < file.pdf`): no package imports, ~60 ms start-up. It only
reads pages; normalisation happens in the parent. It can also be imported and `run()` called
in-process when isolation is turned off.

Protocol: argv[1] is a JSON config, stdin the PDF bytes, stdout one JSON object:
{"ok": true, "backend", "title", "pages": [{"number", "label", "text", "ocr", "ocr_missing",
"headings", "emphasized", "margins"}]} or {"ok": false, "code", "error"}. From the text layer's
layout: "headings" ([line, size, wraps] of the lines set larger than the document's body text;
wraps is true when the line sits right under a previous heading line of its size, one title
wrapped over lines), "emphasized" (whole lines in bold at body size) and "margins" (a running
head: the page's short first lines, no larger than the body, set apart from the text below, at
a height where most pages that start there start so).
All three are null where there is no layout to read (pypdf, OCR, a document in one size), and
then the chunker judges lines by their text alone.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
from typing import Any, TypedDict

# Below this many letters/digits a page counts as having no text layer (a scan often carries a
# stray page number or a few invisible glyphs).
_MIN_ALNUM = 3
# Layout headings. A line counts as larger than the body text from this ratio of sizes (LaTeX's
# \subsection is 1.2x the body, \section 1.44x; a slide's frame title more). Sizes are the
# height of each letter's box, which stays right when a PDF scales its text with a matrix
# (then the font size pdfium reports is 1).
_LARGER = 1.15
# Lines in the page's bottom strip are footers however they are set.
_FOOTER_ZONE = 0.06
_MAX_HEADING_CHARS = 150
# Characters of a page read for its layout: enough for any real page, bounded for hostile ones.
_MAX_LAYOUT_CHARS = 30_000
# Bold by the font's name ("bx" is TeX's bold extended: CMBX, CMSSBX, SFBX) or by its weight.
_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi", "bx")
_BOLD_WEIGHT = 600
# Two heading lines of one size are one wrapped title when the blank between them is under this
# share of their size (a line's ordinary leading); a series name over a title stands further off.
_WRAP_GAP = 0.5
# A page's first lines are a running head when a blank of this many body sizes parts them from
# the text (a header's separation); a page's own text follows its first line at the leading.
_HEAD_GAP = 1.5
_MAX_HEAD_LINES = 2
_MAX_HEAD_CHARS = 80
# Cap on rendered pixels for OCR so a page with an absurd MediaBox cannot allocate gigabytes.
_MAX_OCR_PIXELS = 40_000_000


class WorkerConfig(TypedDict):
    """Settings passed from the parent (see ExtractionLimits)."""

    max_pages: int
    deadline_s: float
    ocr: bool
    ocr_languages: str
    ocr_dpi: int
    max_chars_per_page: int
    backend: str  # "auto" | "pdfium" | "pypdf"


class WorkerFailure(Exception):
    """A handled failure with a machine-readable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Ocr:
    """Tesseract through pytesseract, resolved once per document."""

    def __init__(self, config: WorkerConfig) -> None:
        self.enabled = config["ocr"] and shutil.which("tesseract") is not None
        self.dpi = config["ocr_dpi"]
        self._languages = config["ocr_languages"]
        self._lang: str | None = None

    def lang(self) -> str:
        """The requested languages that are installed (tesseract fails on a missing one)."""
        if self._lang is None:
            import pytesseract

            try:
                installed = set(pytesseract.get_languages(config=""))
            except Exception:  # an odd tesseract build: just try what was asked
                installed = set()
            wanted = [lang for lang in self._languages.split("+") if lang]
            usable = [lang for lang in wanted if not installed or lang in installed]
            self._lang = "+".join(usable) or "eng"
        return self._lang

    def page_text(self, page: Any, timeout: float) -> str:
        """Render one pdfium page in grayscale and OCR it."""
        import pytesseract

        width, height = page.get_size()
        scale = self.dpi / 72
        pixels = width * scale * height * scale
        if pixels > _MAX_OCR_PIXELS:
            scale *= (_MAX_OCR_PIXELS / pixels) ** 0.5
        image = page.render(scale=scale, grayscale=True).to_pil()
        try:
            text: str = pytesseract.image_to_string(
                image, lang=self.lang(), timeout=max(1.0, timeout)
            )
        except RuntimeError as exc:  # pytesseract's timeout
            raise WorkerFailure("time_budget", f"OCR ran out of time: {exc}") from exc
        return text


def _has_text(text: str) -> bool:
    count = 0
    for ch in text:
        if ch.isalnum():
            count += 1
            if count >= _MIN_ALNUM:
                return True
    return False


def _label(raw: str | None, number: int) -> str | None:
    """Keep a printed page label only when it says something the physical number does not."""
    if not raw:
        return None
    raw = raw.strip()
    return raw if raw and raw != str(number) else None


class _Line(TypedDict):
    text: str
    size: float
    bold: bool
    footer: bool
    top: float
    bottom: float


def _layout_lines(textpage: Any, page_height: float) -> list[_Line]:
    """A page's text lines with their letters' median size, boldness and vertical extent."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    count = min(pdfium_c.FPDFText_CountChars(textpage.raw), _MAX_LAYOUT_CHARS)
    box = pdfium_c.FS_RECTF()
    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    lines: list[_Line] = []
    chars: list[str] = []
    sizes: list[float] = []
    letters: list[int] = []  # indexes of the line's letters
    bottom, top = page_height, 0.0

    def bold(index: int) -> bool:
        if pdfium_c.FPDFText_GetFontWeight(textpage.raw, index) >= _BOLD_WEIGHT:
            return True
        pdfium_c.FPDFText_GetFontInfo(textpage.raw, index, name, len(name), flags)
        font = name.value.decode("latin-1", "replace").casefold()
        return any(word in font for word in _BOLD_NAMES)

    def close() -> None:
        text = "".join(chars).strip()
        if text and sizes:
            ordered = sorted(sizes)
            lines.append(
                {
                    "text": text,
                    "size": ordered[len(ordered) // 2],
                    # First and last letter bold: a run-in title ("Remark. The ...") is not.
                    "bold": bold(letters[0]) and bold(letters[-1]),
                    "footer": page_height > 0 and bottom < page_height * _FOOTER_ZONE,
                    "top": top,
                    "bottom": bottom,
                }
            )

    for index in range(count):
        char = chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, index))
        if char == "\n":
            close()
            chars, sizes, letters, bottom, top = [], [], [], page_height, 0.0
            continue
        if char == "\r":
            continue
        chars.append(char)
        if not char.isalpha():
            continue
        pdfium_c.FPDFText_GetLooseCharBox(textpage.raw, index, box)
        sizes.append(round((box.top - box.bottom) * 2) / 2)  # half-point steps
        bottom = min(bottom, box.bottom)
        top = max(top, box.top)
        letters.append(index)
    close()
    return lines


def _mark_headings(pages: list[dict[str, Any]], layouts: list[list[_Line] | None]) -> None:
    """Set each page's "headings", "emphasized" and "margins" from the layout (see the module).

    The body size is the size most of the document's letters are set in. A document with fewer
    than two larger lines tells nothing by layout: its pages keep null, the text judges.
    """
    weights: dict[float, int] = {}
    for layout in layouts:
        for line in layout or ():
            weights[line["size"]] = weights.get(line["size"], 0) + len(line["text"])
    if not weights:
        return
    body = max(weights, key=lambda size: weights[size])
    larger = [
        None if layout is None else _larger_lines(layout, body * _LARGER) for layout in layouts
    ]
    if sum(len(found) for found in larger if found) < 2:
        return
    heads = _running_heads(layouts, body)
    for index, (page, layout, found) in enumerate(zip(pages, layouts, larger, strict=True)):
        if layout is None:
            continue
        page["headings"] = found
        page["emphasized"] = [
            line["text"]
            for line in layout
            if line["bold"] and body * 0.95 <= line["size"] < body * _LARGER and _titled(line)
        ]
        page["margins"] = heads.get(index, [])


def _titled(line: _Line) -> bool:
    letters = sum(ch.isalpha() for ch in line["text"])
    return letters >= 3 and len(line["text"]) <= _MAX_HEADING_CHARS and not line["footer"]


def _larger_lines(layout: list[_Line], threshold: float) -> list[list[Any]]:
    """[text, size, wraps] of a page's heading-sized lines (see the module)."""
    found: list[list[Any]] = []
    previous: _Line | None = None
    for line in layout:
        if line["size"] >= threshold and _titled(line):
            wraps = (
                previous is not None
                and previous["size"] == line["size"]
                and previous["bottom"] - line["top"] < line["size"] * _WRAP_GAP
            )
            found.append([line["text"], line["size"], wraps])
        previous = line
    return found


def _running_heads(layouts: list[list[_Line] | None], body: float) -> dict[int, list[str]]:
    """The running heads of the pages (by the page's index), see the module.

    A running head sits where the page's text would start, apart from it: a page's first short
    lines no larger than the body and followed by a blank of _HEAD_GAP body sizes. A single page
    like that is as likely a sentence before a displayed equation, so the lines count as a head
    only when it is the rule at their height: on at least two pages, and on most of the pages
    whose first line is at that height.
    """
    starting: dict[int, int] = {}  # height of a page's first line (points) -> pages
    candidates: dict[int, list[tuple[int, list[str]]]] = {}
    for index, layout in enumerate(layouts):
        if not layout:
            continue
        height = round(layout[0]["top"])
        starting[height] = starting.get(height, 0) + 1
        head = _head_lines(layout, body)
        if head:
            candidates.setdefault(height, []).append((index, head))
    heads: dict[int, list[str]] = {}
    for height, found in candidates.items():
        if len(found) >= 2 and 2 * len(found) >= starting[height]:
            heads.update(found)
    return heads


def _head_lines(layout: list[_Line], body: float) -> list[str]:
    """The page's first lines if they could be a running head (see _running_heads), else none."""
    for count in range(1, min(_MAX_HEAD_LINES, len(layout) - 1) + 1):
        head, below = layout[:count], layout[count]
        if any(
            line["size"] >= body * _LARGER or len(line["text"]) > _MAX_HEAD_CHARS for line in head
        ):
            return []
        if head[-1]["bottom"] - below["top"] >= body * _HEAD_GAP:
            return [line["text"] for line in head]
    return []


def _check_time(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise WorkerFailure("time_budget", "the PDF took longer than its time budget")


def _with_pdfium(data: bytes, config: WorkerConfig, deadline: float) -> dict[str, Any]:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise WorkerFailure("encrypted", "the PDF is password-protected") from exc
        raise
    try:
        count = len(doc)
        if count > config["max_pages"]:
            raise WorkerFailure(
                "too_many_pages", f"the PDF has {count} pages (limit {config['max_pages']})"
            )
        ocr = _Ocr(config)
        fallback: Any = None
        pages = []
        layouts: list[list[_Line] | None] = []
        for index in range(count):
            _check_time(deadline)
            number = index + 1
            page = doc[index]
            try:
                layout: list[_Line] | None = None
                try:
                    textpage = page.get_textpage()
                    text = textpage.get_text_bounded()
                    try:
                        layout = _layout_lines(textpage, page.get_height())
                    except Exception as exc:  # layout is a refinement: never lose the text
                        print(f"layout unreadable on page {number}: {exc}", file=sys.stderr)
                    textpage.close()
                except pdfium.PdfiumError:
                    # One broken page should not lose the document: ask pypdf for that page.
                    if fallback is None:
                        fallback = _pypdf_reader(data)
                    text = _pypdf_page_text(fallback, index)
                text = text[: config["max_chars_per_page"]]
                used_ocr = False
                if not _has_text(text) and ocr.enabled:
                    try:
                        text = ocr.page_text(page, deadline - time.monotonic())
                        used_ocr = True
                        layout = None
                    except WorkerFailure:
                        raise
                    except Exception as exc:  # tesseract crashed on this page: keep going
                        print(f"OCR failed on page {number}: {exc}", file=sys.stderr)
                try:
                    label = _label(doc.get_page_label(index), number)
                except pdfium.PdfiumError:
                    label = None
            finally:
                page.close()
            pages.append(
                {
                    "number": number,
                    "label": label,
                    "text": text[: config["max_chars_per_page"]],
                    "ocr": used_ocr,
                    "ocr_missing": not used_ocr and not _has_text(text),
                    "headings": None,
                    "emphasized": None,
                    "margins": None,
                }
            )
            layouts.append(layout)
        _mark_headings(pages, layouts)
        title = (doc.get_metadata_value("Title") or "").strip() or None
        return {"ok": True, "backend": "pdfium", "title": title, "pages": pages}
    finally:
        doc.close()


def _pypdf_reader(data: bytes) -> Any:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise WorkerFailure("encrypted", "the PDF is password-protected")
    return reader


def _pypdf_page_text(reader: Any, index: int) -> str:
    text: str = reader.pages[index].extract_text() or ""
    return text


def _with_pypdf(data: bytes, config: WorkerConfig, deadline: float) -> dict[str, Any]:
    reader = _pypdf_reader(data)
    count = len(reader.pages)
    if count > config["max_pages"]:
        raise WorkerFailure(
            "too_many_pages", f"the PDF has {count} pages (limit {config['max_pages']})"
        )
    try:
        labels: list[str] = list(reader.page_labels)
    except Exception:  # labels are a nicety; a broken /PageLabels tree must not lose the text
        labels = []
    pages = []
    for index in range(count):
        _check_time(deadline)
        number = index + 1
        text = _pypdf_page_text(reader, index)[: config["max_chars_per_page"]]
        pages.append(
            {
                "number": number,
                "label": _label(labels[index] if index < len(labels) else None, number),
                "text": text,
                "ocr": False,
                # No renderer on this path, so no OCR: the page is reported as having no text.
                "ocr_missing": not _has_text(text),
                "headings": None,  # pypdf gives no per-letter layout
                "emphasized": None,
                "margins": None,
            }
        )
    title = None
    try:
        meta = reader.metadata
        title = (str(meta.title).strip() or None) if meta and meta.title else None
    except Exception:  # metadata is optional and often malformed
        title = None
    return {"ok": True, "backend": "pypdf", "title": title, "pages": pages}


def run(data: bytes, config: WorkerConfig) -> dict[str, Any]:
    """Extract raw page texts; failures come back as {"ok": False, "code", "error"}."""
    deadline = time.monotonic() + config["deadline_s"]
    try:
        if config["backend"] == "pypdf":
            return _with_pypdf(data, config, deadline)
        try:
            return _with_pdfium(data, config, deadline)
        except WorkerFailure:
            raise
        except Exception as pdfium_exc:
            if config["backend"] == "pdfium":
                raise
            # pdfium could not open the file: pypdf is more lenient with some broken headers.
            try:
                return _with_pypdf(data, config, deadline)
            except WorkerFailure:
                raise
            except Exception as exc:
                raise WorkerFailure(
                    "unreadable", f"not a readable PDF ({pdfium_exc}; pypdf: {exc})"
                ) from exc
    except WorkerFailure as exc:
        return {"ok": False, "code": exc.code, "error": str(exc)}
    except MemoryError:
        return {"ok": False, "code": "memory", "error": "the PDF needs more memory than allowed"}
    except RecursionError:
        return {"ok": False, "code": "nesting", "error": "the PDF's objects are nested too deeply"}
    except Exception as exc:
        return {"ok": False, "code": "unreadable", "error": f"not a readable PDF ({exc})"}


def _apply_limits(memory_mb: int, cpu_s: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    # No core dumps of hostile input.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> int:
    """Child entry point: limits, read stdin, extract, print JSON."""
    params = json.loads(sys.argv[1])
    # Tesseract's OpenMP threads fight each other on small machines (14 s instead of 2 s for one
    # page on 2 cores); this only affects this child and the tesseract processes it starts.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    _apply_limits(int(params.pop("memory_mb")), int(params.pop("cpu_s")))
    data = sys.stdin.buffer.read()
    result = run(data, params)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
