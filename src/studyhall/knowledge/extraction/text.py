"""Markdown and plain-text extraction: decode, keep headings as "#" lines, drop link targets."""

from __future__ import annotations

import re

from studyhall.knowledge.extraction.base import (
    DocumentKind,
    ExtractedDocument,
    ExtractionLimits,
    single_page,
)
from studyhall.knowledge.extraction.normalize import normalize_text
from studyhall.knowledge.extraction.sniff import decoded_within

__all__ = ["extract_text", "markdown_to_text"]

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:\s*['\"]?(.+?)['\"]?\s*$", re.MULTILINE)
_SETEXT = re.compile(r"^(?P<text>[^\n#>\-*`|][^\n]*)\n(?P<rule>=+|-+)[ \t]*$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s+\S+.*$", re.MULTILINE)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def extract_text(
    data: bytes, *, markdown: bool, limits: ExtractionLimits | None = None
) -> ExtractedDocument:
    """Extract a markdown or plain-text file as one page."""
    limits = limits or ExtractionLimits()
    raw = decoded_within(data, limits, what="the file", undecodable="the file")
    title: str | None = None
    if markdown:
        raw, title = markdown_to_text(raw)
    kind = DocumentKind.MARKDOWN if markdown else DocumentKind.TEXT
    return single_page(kind, normalize_text(raw), title=title, limits=limits, what="the file")


def markdown_to_text(source: str) -> tuple[str, str | None]:
    """Return (text, title): ATX headings normalised, setext headings rewritten, links unwrapped."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    title: str | None = None
    front = _FRONT_MATTER.match(source)
    if front:
        found = _FRONT_TITLE.search(front.group(1))
        title = found.group(1).strip() if found else None
        source = source[front.end() :]
    source = _HTML_COMMENT.sub("", source)
    out: list[str] = []
    # Only prose is rewritten; fenced code is kept verbatim (a "# comment" there is not a heading).
    for block, fenced in _split_fences(source):
        if fenced:
            out.append(block)
            continue
        block = _SETEXT.sub(
            lambda m: ("# " if m.group("rule")[0] == "=" else "## ") + m.group("text").strip(),
            block,
        )
        block = _IMAGE.sub(r"\1", block)
        block = _LINK.sub(r"\1", block)
        block = _REF_DEF.sub("", block)
        block = _ATX.sub(lambda m: f"{m.group(1)} {m.group(2)}", block)
        if title is None:
            first = re.search(r"^# (.+)$", block, re.MULTILINE)
            title = first.group(1).strip() if first else None
        out.append(block)
    return "".join(out), title


def _split_fences(source: str) -> list[tuple[str, bool]]:
    """Split markdown into (text, is_fenced_code) pieces, fences included in the code pieces."""
    pieces: list[tuple[str, bool]] = []
    current: list[str] = []
    fence: str | None = None
    for line in source.split("\n"):
        marker = _FENCE.match(line)
        if fence is None and marker:
            pieces.append(("\n".join(current) + "\n", False))
            current = [line]
            fence = marker.group(1)
        elif fence is not None and marker and marker.group(1) == fence:
            current.append(line)
            pieces.append(("\n".join(current) + "\n", True))
            current = []
            fence = None
        else:
            current.append(line)
    pieces.append(("\n".join(current), fence is not None))
    return pieces
