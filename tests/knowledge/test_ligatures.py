"""Lost ligatures: control characters, replacement characters and dropped glyphs, put back."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from studyhall.knowledge.extraction import ExtractionLimits
from studyhall.knowledge.extraction.ligatures import repair_lost_ligatures
from studyhall.knowledge.extraction.pdf import extract_pdf
from tests.knowledge import pdfgen

NO_OCR = ExtractionLimits(ocr=False)
LIGATURE = re.compile(r"ffi|ffl|ff|fi|fl")
WORD = re.compile(r"\w+")
# A beamer-like deck: titles and bullets full of ff/fi/fl/ffi/ffl words.
DECK = [
    "Finite differences\nWe study different methods for a finite set of unknowns.\n"
    "The fixed-point iteration is effective when the coefficient is small.",
    "Efficient solvers\nDefine the residual first, then find the fixed point.\n"
    "The office hours cover the field of fluid flow and floating point numbers.",
    "Stiff problems\nA difficult, stiff system needs an efficient implicit method.\n"
    "Specific examples show the effect of the step size on the final error.",
]
WANTED = (
    "different",
    "finite",
    "fixed-point",
    "effective",
    "coefficient",
    "Define",
    "first",
    "find",
    "office",
    "field",
    "fluid",
    # Not "flow": a two-letter fragment ("ow") is as often a variable as a damaged word, so
    # only the most common words are rebuilt from two letters.
    "floating",
    "difficult",
    "efficient",
    "Specific",
    "effect",
    "final",
)


@pytest.mark.parametrize("text_layer", ["control", "replacement", "dropped"])
def test_generated_deck_with_lost_ligature_glyphs_is_repaired(text_layer: str) -> None:
    data = pdfgen.ligature_pdf(DECK, text_layer=text_layer)
    doc = extract_pdf(data, limits=NO_OCR)
    text = doc.text
    missing = [word for word in WANTED if word not in text]
    assert not missing, (text_layer, missing, text)
    assert not re.search(r"\bnite\b|di erent|\bxed\b|e ective|coe cient", text)
    assert not re.search("[\x00-\x08\x0b-\x1f\ufffd]", text)


def test_the_damage_is_real_without_the_repair() -> None:
    # The same deck through the raw text layer: the glyphs really are lost, so the test above
    # measures the repair and not a generator that kept the letters.
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(pdfgen.ligature_pdf(DECK, text_layer="dropped"))
    raw = pdf[0].get_textpage().get_text_bounded()
    pdf.close()
    assert "dierent" in raw and "a nite set" in raw and "finite" not in raw


def test_clean_text_is_left_alone() -> None:
    pages = [
        "Be it as it may, we sat at the flat end of the hall. I have ire, said the poet. " * 3,
        "Strang splitting and the Lie splitting are compared on a nite-looking table. " * 2,
    ]
    assert repair_lost_ligatures(pages) == pages


@pytest.fixture(scope="module")
def real_pages(pdf_dir: Path) -> dict[str, list[str]]:
    """The born-digital real PDFs' page texts, extracted (and so repaired) once."""
    names = ("en-textbook-chapter.pdf", "es-problem-set.pdf", "fr-exercises.pdf")
    return {
        name: [
            page.text for page in extract_pdf((pdf_dir / name).read_bytes(), limits=NO_OCR).pages
        ]
        for name in names
    }


def test_real_documents_are_not_changed(real_pages: dict[str, list[str]]) -> None:
    for name, pages in real_pages.items():
        assert repair_lost_ligatures(pages) == pages, name
    # A name the dictionary does not know stays a name.
    assert "Strang splitting" in "\n".join(real_pages["en-textbook-chapter.pdf"])


@pytest.mark.parametrize(
    ("name", "lost_as", "at_least"),
    [
        # Two documents by different authors, in two languages, damaged both ways.
        ("en-textbook-chapter.pdf", " ", 0.85),
        ("en-textbook-chapter.pdf", "", 0.85),
        ("es-problem-set.pdf", " ", 0.6),
        ("es-problem-set.pdf", "", 0.6),
    ],
)
def test_real_documents_with_their_ligatures_knocked_out_get_them_back(
    real_pages: dict[str, list[str]], name: str, lost_as: str, at_least: float
) -> None:
    pages = real_pages[name]
    wanted = Counter(w for page in pages for w in WORD.findall(page) if LIGATURE.search(w))
    damaged = [LIGATURE.sub(lost_as, page) for page in pages]
    repaired = Counter(w for page in repair_lost_ligatures(damaged) for w in WORD.findall(page))
    restored = sum(min(count, repaired[w]) for w, count in wanted.items())
    assert restored / sum(wanted.values()) >= at_least
