"""Chunking: sizes, overlap, pages, headings and positions, on built and real documents."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studyhall.knowledge.chunking import (
    Chunk,
    ChunkingOptions,
    _line_key,
    _running_lines,
    chunk_document,
    chunk_pages,
    detect_heading,
    split_sentences,
)
from studyhall.knowledge.extraction import (
    DocumentKind,
    ExtractedDocument,
    ExtractedPage,
    ExtractionLimits,
    extract,
)

SENTENCES = [
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Chlorophyll absorbs mostly blue and red light and reflects green light.",
    "The light reactions take place in the thylakoid membranes of the chloroplast.",
    "Water molecules are split, releasing oxygen as a by-product of the process.",
    "The Calvin cycle uses ATP and NADPH to fix carbon dioxide into sugars.",
    "Temperature, light intensity and carbon dioxide levels limit the rate.",
]


def page(number: int, text: str, label: str | None = None) -> ExtractedPage:
    return ExtractedPage(number=number, label=label, text=text, has_text=bool(text))


def prose(paragraphs: int, sentences: int = 5, offset: int = 0) -> str:
    out = []
    for p in range(paragraphs):
        out.append(
            " ".join(
                f"{SENTENCES[(p + s + offset) % len(SENTENCES)][:-1]} (note {p}.{s})."
                for s in range(sentences)
            )
        )
    return "\n\n".join(out)


def test_sentence_splitting_respects_abbreviations_and_initials() -> None:
    text = (
        "Newton's laws, e.g. the second one, relate force and mass. See Fig. 3 for a plot. "
        "The author is P. Méchain. ¿Qué es la energía? Es la capacidad de hacer trabajo! "
        "Done… then more text."
    )
    assert split_sentences(text) == [
        "Newton's laws, e.g. the second one, relate force and mass.",
        "See Fig. 3 for a plot.",
        "The author is P. Méchain.",
        "¿Qué es la energía?",
        "Es la capacidad de hacer trabajo!",
        "Done… then more text.",
    ]
    assert split_sentences("一つ目の文です。二つ目の文です。") == [
        "一つ目の文です。",
        "二つ目の文です。",
    ]


@pytest.mark.parametrize(
    ("line", "prev", "next_", "heading"),
    [
        ("1.2 Linear versus nonlinear equations", "end of text.", "Body starts", True),
        ("3 Linearization at the differential equation level", None, None, True),
        ("Chapter 4 Waves and Optics", None, "Text", True),
        ("1.1 Linear versus nonlinear equations . . . . . . 4", None, None, False),  # TOC
        ("1 Introduction of basic concepts 4", None, None, False),  # TOC without leaders
        ("1. Un graphe orienté est définit par :", None, None, False),  # exercise item
        ("2. Resuelve la ecuación cuadrática para comprobar que", None, "la raíz", False),
        ("2 × 2 system", None, None, False),
        ("Preámbulo", "en km/h 3 .", "En este problema unidimensional podemos establecer", True),
        (
            "Exercice 1",
            "Terminale NSI - Lycée P. Méchain",
            "1. Un graphe orienté est définit",
            True,
        ),
        ("Newton", "Picard", "CN gm", False),  # a plot legend
        ("BE Newton", "BE Picard1", "CN gm", False),
        ("Linearization via Taylor expansions. Let u", None, None, False),
        ("The results are shown in the next table", "x" * 60, "and then", False),
        ("Conservation of Energy", None, "Energy is neither created nor destroyed.", True),
        ("Set initial condition u(x,0) = I(x)", None, None, False),
        ("# Allow f to be None or 0", None, "if f is None:", False),  # a code comment in a PDF
        ("# Newton's Method", None, "Newton's method solves", True),
    ],
)
def test_heading_detection_in_pdf_text(
    line: str, prev: str | None, next_: str | None, heading: bool
) -> None:
    assert (detect_heading(line, prev, next_, structured=False) is not None) is heading


def test_structured_text_trusts_only_markdown_headings() -> None:
    assert detect_heading("## Velocity ##", structured=True) == "Velocity"
    assert detect_heading("# allow f = 0", structured=True) == "allow f = 0"
    assert detect_heading("1.2 Linear equations", structured=True) is None
    assert detect_heading("Conservation of Energy", structured=True) is None


def test_chunks_respect_sizes_and_overlap() -> None:
    options = ChunkingOptions(target_chars=900, max_chars=1200, overlap_chars=200)
    text = prose(12)
    chunks = chunk_pages([page(1, text)], options=options)
    assert len(chunks) > 5
    assert all(len(c.text) <= options.max_chars for c in chunks)
    assert all(len(c.text) >= 600 for c in chunks[:-1])
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for before, after in itertools.pairwise(chunks):
        # The next chunk starts with the previous one's last whole sentence(s), within budget.
        previous, following = split_sentences(before.text), split_sentences(after.text)
        shared = max(n for n in range(len(following)) if following[:n] == previous[-n:] or n == 0)
        assert shared >= 1
        assert len(" ".join(following[:shared])) <= options.overlap_chars
    # Every sentence of the page is in some chunk, in order.
    body = " ".join(split_sentences(text.replace("\n\n", " ")))
    rebuilt = [s for c in chunks for s in split_sentences(c.text)]
    assert all(s in body for s in rebuilt)
    assert set(split_sentences(text.replace("\n\n", " "))) == set(rebuilt)


def test_chunks_prefer_paragraph_boundaries() -> None:
    paragraphs = [" ".join(SENTENCES[:4])] * 6  # ~300 chars each
    chunks = chunk_pages([page(1, "\n\n".join(paragraphs))], options=ChunkingOptions())
    for chunk in chunks:
        assert chunk.text.endswith(SENTENCES[3])


def test_long_sentences_and_giant_tokens_are_cut() -> None:
    giant = "x" * 5000
    words = " ".join(["word"] * 1000)
    chunks = chunk_pages([page(1, f"{giant}\n\n{words}")])
    assert all(len(c.text) <= 1200 for c in chunks)
    assert "".join(c.text for c in chunks).count("x") == 5000


def test_chunks_keep_page_label_and_never_span_pages() -> None:
    pages = [
        page(1, "1 Kinematics\n" + prose(2), label="7-45"),
        page(2, prose(3, offset=1), label="7-46"),
        page(3, ""),  # a page without text produces nothing
        page(4, "2 Dynamics\n" + prose(1, offset=2)),
    ]
    chunks = chunk_pages(pages)
    assert {c.page for c in chunks} == {1, 2, 4}
    for c in chunks:
        source = next(p for p in pages if p.number == c.page)
        assert c.page_label == source.label
        assert all(s in source.text for s in split_sentences(c.text) if s != "1 Kinematics")
    # The heading carries over the page break until the next one.
    assert [c.heading for c in chunks if c.page in (1, 2)] == ["1 Kinematics"] * len(
        [c for c in chunks if c.page in (1, 2)]
    )
    assert chunks[-1].heading == "2 Dynamics" and chunks[-1].text.startswith("2 Dynamics")


def test_running_page_numbers_are_dropped() -> None:
    chunks = chunk_pages([page(12, f"{prose(1)}\n12"), page(13, f"xiv\n{prose(1)}", label="xiv")])
    assert not any(re.search(r"\b(12|xiv)$", c.text) or c.text.startswith("xiv") for c in chunks)


def test_sections_start_new_chunks_and_tiny_sections_merge() -> None:
    text = (
        "# Cells\nCells are the basic unit of life.\n"  # too short to stand alone
        "## Organelles\n" + prose(2) + "\n## Membranes\n" + prose(1, offset=3)
    )
    doc = ExtractedDocument(kind=DocumentKind.MARKDOWN, pages=[page(1, text)])
    chunks = chunk_document(doc)
    assert chunks[0].heading == "Cells"
    assert chunks[0].text.startswith("Cells\nCells are the basic unit of life.\nOrganelles\n")
    assert chunks[-1].heading == "Membranes"
    assert chunks[-1].text.startswith("Membranes\n")
    assert all("Membranes" not in c.text for c in chunks[:-1])


def test_markdown_code_comments_are_not_headings() -> None:
    text = "# Guide\nIntro text.\n\n```python\n# compute the speed\nv = d / t\n```\nMore text."
    doc = ExtractedDocument(kind=DocumentKind.MARKDOWN, pages=[page(1, text)])
    chunks = chunk_document(doc)
    assert {c.heading for c in chunks} == {"Guide"}
    assert "# compute the speed\nv = d / t" in chunks[0].text


def test_code_blocks_keep_their_lines_and_are_cut_between_lines() -> None:
    code = "\n".join(f"total = total + values[{i}]. # step {i}. Next" for i in range(80))
    text = f"# Loops\nSumming a list.\n\n```\n{code}\n```\nAfter the code."
    doc = ExtractedDocument(kind=DocumentKind.MARKDOWN, pages=[page(1, text)])
    chunks = chunk_document(doc)
    assert len(chunks) > 2 and all(len(c.text) <= 1200 for c in chunks)
    lines = [line for c in chunks for line in c.text.split("\n")]
    for i in range(80):
        assert f"total = total + values[{i}]. # step {i}. Next" in lines


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        ChunkingOptions(target_chars=1300, max_chars=1200)
    with pytest.raises(ValueError):
        ChunkingOptions(target_chars=100, overlap_chars=100)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                [*"abcde fgh.\n#1 ÉéАб", ". ", "\n\n", "Title Case\n", "1.2 Numbered Part\n"]
            ),
            max_size=1500,
        ).map("".join),
        min_size=1,
        max_size=4,
    )
)
def test_chunking_invariants(texts: list[str]) -> None:
    options = ChunkingOptions(target_chars=300, max_chars=400, overlap_chars=80, min_chars=50)
    pages = [page(i + 1, t) for i, t in enumerate(texts)]
    chunks = chunk_pages(pages, options=options)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert [c.page for c in chunks] == sorted(c.page for c in chunks)
    for c in chunks:
        assert 0 < len(c.text) <= options.max_chars
        assert c.text == c.text.strip()
    # No word is lost: every word of a page is in one of that page's chunks, but for headings
    # and running headers/footers (short lines repeated at the edges of most pages).
    running = _running_lines(pages)
    for p in pages:
        words = set(re.findall(r"[^\W\d_]{2,}", p.text))
        kept = set(
            re.findall(r"[^\W\d_]{2,}", " ".join(c.text for c in chunks if c.page == p.number))
        )
        heading_only = {
            w
            for line in p.text.split("\n")
            for w in re.findall(r"[^\W\d_]{2,}", line)
            if detect_heading(line, None, None, structured=False) or _line_key(line) in running
        }
        assert words - kept <= heading_only


# --- real documents --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_chunks(pdf_dir: Path) -> dict[str, list[Chunk]]:
    limits = ExtractionLimits(ocr=False, isolate_pdf=False)
    return {
        name: chunk_document(extract((pdf_dir / name).read_bytes(), limits=limits))
        for name in ("en-textbook-chapter.pdf", "fr-exercises.pdf", "es-problem-set.pdf")
    }


def test_real_pdf_chunks_carry_headings_and_pages(real_chunks: dict[str, list[Chunk]]) -> None:
    en = real_chunks["en-textbook-chapter.pdf"]
    assert all(len(c.text) <= 1200 for c in en)
    section = [c for c in en if c.heading == "1.3 Linearization by explicit time discretization"]
    assert section and section[0].page == 6
    assert section[0].text.startswith("1.3 Linearization by explicit time discretization")
    picard = [c for c in en if c.heading == "1.6 Picard iteration"]
    assert picard and all(8 <= c.page <= 10 for c in picard)
    assert len({c.heading for c in en}) > 30
    fr = real_chunks["fr-exercises.pdf"]
    assert next(c.heading for c in fr if c.page == 1) == "Exercice 1"
    assert any(c.heading == "Exercice 2" and c.page == 2 for c in fr)
    es = real_chunks["es-problem-set.pdf"]
    assert es[0].heading == "Cinemática 1: Frenada de Emergencia" and es[0].page == 1
    assert any(c.heading == "Preámbulo" for c in es)
    for chunks in real_chunks.values():
        assert [c.position for c in chunks] == list(range(len(chunks)))


def test_running_headers_and_footers_are_not_content_or_headings() -> None:
    topics = ["Finite Differences", "Newton Iteration", "Picard Iteration", "Stability Analysis"]
    pages = [
        ExtractedPage(
            number=i,
            label=None,
            text=f"FNx\n{topic}\nThe method of {topic.lower()} is studied on this slide. It is "
            f"simple and widely used in practice for many problems of engineering.\n"
            f"EDIT THESE SLIDES! {i}",
            has_text=True,
        )
        for i, topic in enumerate(topics, start=1)
    ]
    chunks = chunk_pages(pages)
    assert [c.heading for c in chunks] == topics
    for chunk in chunks:
        assert "FNx" not in chunk.text and "EDIT THESE SLIDES" not in chunk.text
        assert "widely used in practice" in chunk.text
    # Two pages are too few to call anything a running line.
    two = chunk_pages(pages[:2])
    assert "FNx" in two[0].text
