"""Recognise a document's format from its bytes; the filename is only a markdown/text hint."""

from __future__ import annotations

import io
import re
import zipfile

from studyhall.knowledge.extraction.base import (
    DocumentKind,
    ExtractionError,
    ExtractionLimits,
    UnsupportedType,
)

__all__ = ["decode_text", "sniff"]

# The PDF spec lets a header sit anywhere in the first 1024 bytes (some generators prepend junk).
_PDF_WINDOW = 1024
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Formats people upload by mistake, named in the error message.
_KNOWN_BINARIES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"MZ", "Windows executable"),
    (b"\x7fELF", "ELF executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office (OLE) file"),
    (b"\x1f\x8b", "gzip archive"),
    (b"Rar!", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"{\\rtf", "RTF document"),
)
_HTML_RE = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_HTML_TAGS_RE = re.compile(
    r"<(?:p|div|h[1-6]|ul|ol|li|table|span|a\s+href|br|title|meta|article|section)\b",
    re.IGNORECASE,
)
_MD_SIGNALS = (
    re.compile(r"^#{1,6}\s+\S", re.MULTILINE),  # ATX heading
    re.compile(r"^\S[^\n]*\n(?:=+|-+)[ \t]*$", re.MULTILINE),  # setext heading
    re.compile(r"^```", re.MULTILINE),  # fenced code
    re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),  # link
    re.compile(r"^\s*[-*+]\s+\S", re.MULTILINE),  # bullet list
    re.compile(r"\*\*[^*\n]+\*\*"),  # bold
)
_MARKDOWN_EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd")
_TEXT_EXTENSIONS = (".txt", ".text")


def sniff(data: bytes, filename: str | None = None) -> DocumentKind:
    """Return the document kind, or raise UnsupportedType for anything we do not extract."""
    if not data:
        raise UnsupportedType("the file is empty")
    if b"%PDF-" in data[:_PDF_WINDOW]:
        return DocumentKind.PDF
    if data.startswith(_ZIP_MAGIC):
        return _sniff_zip(data)
    for magic, what in _KNOWN_BINARIES:
        if data.startswith(magic):
            raise UnsupportedType(f"unsupported file type: {what}")
    text = decode_text(data[:65536], partial=True)
    if text is None:
        raise UnsupportedType("unsupported file type: binary data")
    if _HTML_RE.match(text) or len(_HTML_TAGS_RE.findall(text[:8192])) >= 3:
        return DocumentKind.HTML
    name = (filename or "").lower()
    if name.endswith(_MARKDOWN_EXTENSIONS):
        return DocumentKind.MARKDOWN
    if name.endswith(_TEXT_EXTENSIONS):
        return DocumentKind.TEXT
    signals = sum(1 for pattern in _MD_SIGNALS if pattern.search(text))
    return DocumentKind.MARKDOWN if signals >= 2 else DocumentKind.TEXT


def _sniff_zip(data: bytes) -> DocumentKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnsupportedType("unsupported file type: damaged zip archive") from exc
    if "word/document.xml" in names:
        return DocumentKind.DOCX
    if "ppt/presentation.xml" in names:
        raise UnsupportedType("unsupported file type: PowerPoint presentation (export it to PDF)")
    if "xl/workbook.xml" in names:
        raise UnsupportedType("unsupported file type: Excel workbook")
    if "content.xml" in names:
        raise UnsupportedType("unsupported file type: OpenDocument file (export it to PDF)")
    raise UnsupportedType("unsupported file type: zip archive")


def decode_text(data: bytes, *, partial: bool = False) -> str | None:
    """Decode bytes that look like text (UTF-8/16 with BOM, else cp1252), or None if binary.

    partial=True tolerates a multi-byte character cut at the end (for sniffing a prefix).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        if partial and len(data) % 2:
            data = data[:-1]
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if partial and exc.start >= len(data) - 3:
            text = data[: exc.start].decode("utf-8")
        else:
            # Old Windows files: cp1252 decodes almost anything, so the control-character check
            # below is what tells text from binary.
            text = data.decode("cp1252", "replace")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    if text and controls / len(text) > 0.01:
        return None
    return text


def decoded_within(data: bytes, limits: ExtractionLimits, *, what: str, undecodable: str) -> str:
    """A text format's bytes (HTML, Markdown, text) decoded, within `limits.max_bytes`; the
    errors name the file as `what` ("the page") and, undecodable, as `undecodable`."""
    if len(data) > limits.max_bytes:
        raise ExtractionError(f"{what} is larger than {limits.max_bytes} bytes")
    text = decode_text(data)
    if text is None:
        raise ExtractionError(f"{undecodable} is not decodable text")
    return text
