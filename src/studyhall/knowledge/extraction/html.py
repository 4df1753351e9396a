"""HTML extraction with selectolax (lexbor): readable text, headings kept as markdown lines."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from studyhall.knowledge.extraction.base import (
    DocumentKind,
    ExtractedDocument,
    ExtractionError,
    ExtractionLimits,
    single_page,
)
from studyhall.knowledge.extraction.normalize import normalize_text
from studyhall.knowledge.extraction.sniff import decoded_within

__all__ = ["estimated_depth", "extract_html", "html_to_text"]


def _words(text: str) -> frozenset[str]:
    """A set of space-separated words (keeps long word lists readable)."""
    return frozenset(text.split())


# Not content: code, styling, navigation, embedded objects and form controls.
_DROP = [
    "script",
    "style",
    "nav",
    "noscript",
    "template",
    "svg",
    "math",
    "iframe",
    "object",
    "embed",
    "canvas",
    "button",
    "select",
    "input",
    "textarea",
]
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"\s+")
_PARAGRAPHS = _words(
    "address article aside blockquote body details dialog div dl fieldset figure footer form "
    "header hgroup hr main ol p section table ul"
)
_LINES = {
    "li": "\n- ",
    "tr": "\n",
    "dt": "\n",
    "dd": "\n",
    "caption": "\n",
    "figcaption": "\n",
    "summary": "\n",
    "td": " | ",
    "th": " | ",
}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")
# Tags that cannot build deep trees: void elements, elements the parser closes implicitly, and
# formatting elements (the HTML parser caps how many of those stay open).
_NON_NESTING = _words(
    "area base br col embed hr img input link meta param source track wbr p li dt dd tr td th "
    "option optgroup rb rt rp thead tbody tfoot colgroup caption a b i u s em strong font big "
    "small code nobr strike tt"
)
# Deeper trees than this make lexbor's parse time grow quadratically (20k levels: 0.5 s).
_MAX_PARSE_DEPTH = 5000


def extract_html(data: bytes, *, limits: ExtractionLimits | None = None) -> ExtractedDocument:
    """Extract an HTML page as one page of text."""
    limits = limits or ExtractionLimits()
    markup = decoded_within(data, limits, what="the page", undecodable="the HTML")
    text, title = html_to_text(markup, max_depth=limits.max_depth)
    return single_page(DocumentKind.HTML, text, title=title, limits=limits, what="the page")


def html_to_text(markup: str, *, max_depth: int = 512) -> tuple[str, str | None]:
    """Return (text, title) for HTML markup; headings become "#" lines, lists "- " lines."""
    depth = estimated_depth(markup)
    if depth > _MAX_PARSE_DEPTH:
        raise ExtractionError(f"the HTML nests tags {depth} levels deep (limit {_MAX_PARSE_DEPTH})")
    parser = LexborHTMLParser(markup)
    title_node = parser.css_first("title")
    title = _one_line(title_node.text()) if title_node is not None else ""
    parser.strip_tags(_DROP)
    # A page that marks its main content says what is boilerplate around it.
    root = parser.css_first("main") or parser.body or parser.root
    if root is None:
        return "", title or None
    out: list[str] = []
    # Iterative walk with explicit exit markers: hostile pages nest tags thousands deep, which a
    # recursive walk would turn into a RecursionError.
    stack: list[tuple[LexborNode, bool, int]] = [(root, False, 0)]
    while stack:
        node, leaving, depth = stack.pop()
        tag = node.tag or ""
        if leaving:
            out.append("\n\n")
            continue
        if node.is_text_node:
            out.append(_SPACES.sub(" ", node.text_content or ""))
            continue
        if not node.is_element_node or depth > max_depth:
            continue
        if tag in _HEADINGS:
            heading = _one_line(node.text(deep=True, separator=" "))
            if heading:
                out.append(f"\n\n{'#' * _HEADINGS[tag]} {heading}\n\n")
            continue
        if tag == "pre":
            # Code keeps its line breaks; fences stop the chunker reading "# comment" as a heading.
            out.append("\n```\n" + (node.text(deep=True) or "").strip("\n") + "\n```\n")
            continue
        if tag == "br":
            out.append("\n")
            continue
        if tag in _LINES:
            out.append(_LINES[tag])
        elif tag in _PARAGRAPHS:
            out.append("\n\n")
            stack.append((node, True, depth))
        children = list(node.iter(include_text=True))
        stack.extend((child, False, depth + 1) for child in reversed(children))
    text = normalize_text("".join(out))
    # Table cells opened with " | "; drop the separator at the start of each row.
    text = re.sub(r"(?m)^\| ", "", text)
    return text, title or None


def estimated_depth(markup: str) -> int:
    """Upper estimate of how deep the markup nests elements that really nest (a regex scan)."""
    depth = best = 0
    for closing, name in _TAG_RE.findall(markup):
        if name.lower() in _NON_NESTING:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        best = max(best, depth)
    return best


def _one_line(text: str | None) -> str:
    return _SPACES.sub(" ", text or "").strip()
