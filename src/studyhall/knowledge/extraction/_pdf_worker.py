"""Raw PDF text extraction, meant to run in a throwaway child process with resource limits.

This file imports nothing from studyhall so the parent can start it as a plain script
(`python -I _pdf_worker.py CONFIG_JSON < file.pdf`): no package imports, ~60 ms start-up. It only
reads pages; normalisation happens in the parent. It can also be imported and `run()` called
in-process when isolation is turned off.

Protocol: argv[1] is a JSON config, stdin the PDF bytes, stdout one JSON object:
{"ok": true, "backend", "title", "pages": [{"number", "label", "text", "ocr", "ocr_missing"}]}
or {"ok": false, "code", "error"}.
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
        for index in range(count):
            _check_time(deadline)
            number = index + 1
            page = doc[index]
            try:
                try:
                    textpage = page.get_textpage()
                    text = textpage.get_text_bounded()
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
                }
            )
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
