"""Headings from a PDF's layout: larger (or bold) lines are titles, footers never are.

The PDFs are generated here (tests/knowledge/pdfgen.py): a slide deck whose frame titles are
larger than the text, with a running footer in small print and another in body size at the
bottom edge, body lines in Title Case that the text-only rules would take for headings, a title
in lower case that they would miss, and a title wrapped over two lines.
"""

from __future__ import annotations

from studyhall.knowledge.chunking import chunk_document
from studyhall.knowledge.extraction.base import ExtractionLimits
from studyhall.knowledge.extraction.pdf import extract_pdf
from tests.knowledge.pdfgen import layout_pdf, text_pdf

TITLE, SUBTITLE, BODY = 20.0, 16.0, 12.0
# Per slide: its larger lines (text, size) from the top, then its body lines.
SLIDES: list[tuple[list[tuple[str, float]], list[str]]] = [
    (
        [("Fixed-Point Iteration", TITLE), ("why does the iteration converge?", SUBTITLE)],
        [
            "We rewrite f(x) = 0 as x = g(x) and iterate x_{n+1} = g(x_n) from a first guess.",
            "Main Properties Of The Map",  # Title Case body text: not a heading here
            "The iteration converges when g is a contraction near the fixed point.",
        ],
    ),
    (
        [("Newton's Method", TITLE)],
        [
            "Newton's method linearises f at the current iterate and solves the linear model.",
            "It converges quadratically near a simple root when the derivative does not vanish.",
        ],
    ),
    (
        [("Stopping Criteria For Iterative", TITLE), ("Methods In Practice", TITLE)],
        [
            "Stop when the residual or the change between iterates falls below a tolerance.",
            "A maximum number of iterations guards against divergence.",
        ],
    ),
    (
        [("the secant method", TITLE)],
        [
            "The secant method replaces the derivative by a difference quotient of two iterates.",
            "Its order of convergence is the golden ratio, about 1.618.",
        ],
    ),
]


def _deck(*, scaled: bool = False) -> bytes:
    pages = []
    for number, (titles, body) in enumerate(SLIDES, start=1):
        y = 764.0
        lines = []
        for text, size in titles:
            y -= 24
            lines.append((text, size, True, y))
        for text in body:
            y -= 24
            lines.append((text, BODY, False, y))
        lines.append((f"FNx - EDIT THESE SLIDES! - {number}", 8.0, False, 30.0))
        lines.append((f"Numerical Methods Course {number}", BODY, True, 14.0))
        pages.append(lines)
    return layout_pdf(pages, scaled=scaled)


def _headings(data: bytes) -> list[tuple[int, str | None]]:
    document = extract_pdf(data)
    return [(chunk.page, chunk.heading) for chunk in chunk_document(document)]


def test_slide_titles_come_from_the_layout() -> None:
    for scaled in (False, True):
        found = _headings(_deck(scaled=scaled))
        by_page = {page: heading for page, heading in found}
        # A subtitle in another size is not the title's continuation: the text sits under it.
        assert by_page[1] == "why does the iteration converge?", scaled
        assert by_page[2] == "Newton's Method", scaled
        # A title wrapped over two lines of one size is one heading.
        assert by_page[3] == "Stopping Criteria For Iterative Methods In Practice", scaled
        # Lower case: the text alone would never call it a title; its size does.
        assert by_page[4] == "the secant method", scaled
        headings = {heading for _, heading in found}
        assert not any("EDIT THESE SLIDES" in (h or "") for h in headings)
        assert not any("Numerical Methods Course" in (h or "") for h in headings)
        assert "Main Properties Of The Map" not in headings


def test_the_layout_reaches_the_pages_through_the_isolated_parser() -> None:
    document = extract_pdf(_deck())
    first = document.pages[0]
    assert first.headings is not None
    assert [line for line, _ in first.headings] == [
        "Fixed-Point Iteration",
        "why does the iteration converge?",
    ]
    sizes = [size for _, size in first.headings]
    assert sizes[0] > sizes[1]  # title over subtitle: two headings, not one
    # The bold footer sits in the bottom strip: never a heading, never emphasized.
    assert not any("Course" in line for line in first.emphasized or ())
    inline = extract_pdf(_deck(), limits=ExtractionLimits(isolate_pdf=False))
    assert inline.pages == document.pages


def test_a_pdf_in_one_size_keeps_the_text_rules() -> None:
    # Every line in 12 pt Helvetica: the layout tells nothing, so numbered titles are still
    # found from their text.
    data = text_pdf(
        [
            "1.2 Linear versus nonlinear\n"
            "A linear equation has the unknown only to the first power.\n"
            "Such equations are solved directly, without iterating at all.",
        ]
    )
    document = extract_pdf(data)
    assert document.pages[0].headings is None
    assert [chunk.heading for chunk in chunk_document(document)] == ["1.2 Linear versus nonlinear"]
