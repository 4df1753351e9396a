"""Headings from a PDF's layout: larger (or bold) lines are titles, footers never are.

The PDFs are generated here (tests/knowledge/pdfgen.py), in several styles: a slide deck whose
frame titles are larger than the text, with a running footer in small print and another in body
size at the bottom edge, body lines in Title Case that the text-only rules would take for
headings, a title in lower case that they would miss, and a title wrapped over two lines; a
beamer-like deck on small 4:3 pages with a navigation bar at the top; and handouts with a
running head, a series name over each sheet's title and bold subsections in sentence case.
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
    assert [line for line, _, _ in first.headings] == [
        "Fixed-Point Iteration",
        "why does the iteration converge?",
    ]
    sizes = [size for _, size, _ in first.headings]
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


def _beamer_deck() -> bytes:
    """4:3 slides (364 x 273 pt): a small navigation bar in the top strip, the frame title, the
    text, and a footline of author, title and slide number in small print at the bottom."""
    slides = [
        (
            "Gaussian elimination",
            [
                "Row operations reduce the matrix to upper triangular form.",
                "Back substitution then gives the unknowns one by one.",
            ],
        ),
        (
            "Pivoting",
            [
                "Partial pivoting swaps rows to put the largest entry on the diagonal.",
                "It keeps the multipliers at most one in size.",
            ],
        ),
        (
            "LU factorisation",
            [
                "The elimination steps are stored as a lower triangular factor.",
                "One factorisation serves many right-hand sides.",
            ],
        ),
    ]
    pages = []
    for number, (title, body) in enumerate(slides, start=1):
        lines = [("Direct Methods  Iterative Methods  Summary", 5.0, False, 266.0)]
        lines.append((title, 14.0, False, 236.0))
        y = 236.0
        for text in body:
            y -= 16
            lines.append((text, 9.0, False, y))
        lines.append((f"A. Author  Linear Systems  {number} / 3", 5.0, False, 6.0))
        pages.append(lines)
    return layout_pdf(pages, media=(364, 273))


def test_beamer_frame_titles_and_not_its_bars() -> None:
    found = _headings(_beamer_deck())
    assert [heading for _, heading in found] == [
        "Gaussian elimination",
        "Pivoting",
        "LU factorisation",
    ]


Sheet = tuple[str, list[list[tuple[str, bool]]]]  # title, pages of (line, bold)


def _handout(series: str, sheets: list[Sheet]) -> bytes:
    """Problem sheets: page 1 of each sheet has the series name over its title (one size, set
    apart); its other pages start with a running head in body size set apart from the text;
    subsections are bold lines in the body's size and in sentence case."""
    pages = []
    for title, sheet_pages in sheets:
        for number, items in enumerate(sheet_pages):
            if number == 0:
                lines = [(series, 22.0, True, 760.0), (title, 22.0, True, 700.0)]
                y = 700.0
            else:
                lines = [("Terminale NSI", 11.0, False, 790.0)]
                y = 770.0
            for text, bold in items:
                y -= 30 if bold else 16
                lines.append((text, 11.0, bold, y))
            pages.append(lines)
    return layout_pdf(pages)


SHEETS: list[Sheet] = [
    (
        "Cinemática 1: Frenada de emergencia",
        [
            [
                ("Un auto frena con aceleración constante para evitar una colisión.", False),
                ("Preámbulo", True),
                (
                    "La posición de cada auto depende del tiempo de forma cuadrática o lineal.",
                    False,
                ),
            ],
            [
                ("Solución del problema", True),
                (
                    "La colisión ocurre si ambas posiciones coinciden en algún tiempo positivo.",
                    False,
                ),
                ("Tu tarea es encontrar la distancia mínima para frenar sin choque.", False),
            ],
        ],
    ),
    (
        "Balística 1: El rescate de la pelota",
        [
            [
                ("Un cañón lanza una piedra a velocidad fija para liberar una pelota.", False),
                ("El ángulo del cañón es lo único que se puede ajustar.", False),
            ],
            [
                ("Trayectoria del proyectil", True),
                ("La altura es una función cuadrática de la distancia horizontal.", False),
                ("Dos ángulos distintos pueden alcanzar el mismo punto.", False),
                ("Comprueba tu respuesta con la simulación.", True),
            ],
        ],
    ),
]


def test_handouts_series_name_running_head_and_bold_subsections() -> None:
    found = _headings(_handout("Física para Mates", SHEETS))
    headings = [heading for _, heading in found]
    # The series name over a sheet's title is not part of it (they stand apart).
    assert headings[0] == "Cinemática 1: Frenada de emergencia"
    assert not any("Física para Mates" in (h or "") for h in headings)
    # Bold lines in sentence case are subsections; a bold sentence is not. (A subsection after
    # a few words of text shares their chunk, labelled by the section they open.)
    document = extract_pdf(_handout("Física para Mates", SHEETS))
    assert document.pages[0].emphasized == ("Preámbulo",)
    for title in ("Solución del problema", "Trayectoria del proyectil"):
        assert title in headings
    assert "Comprueba tu respuesta con la simulación." not in headings
    # A page that opens with the running head is labelled by the title or subsection below it,
    # never by the section before the page break, and the head never titles anything.
    by_page: dict[int, list[str | None]] = {}
    for page, heading in found:
        by_page.setdefault(page, []).append(heading)
    assert by_page[2][0] == "Solución del problema"
    assert by_page[4][0] == "Trayectoria del proyectil"
    assert "Terminale NSI" not in headings
