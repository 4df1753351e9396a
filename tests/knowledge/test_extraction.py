"""Extraction: format sniffing, real PDFs (text, accents, ligatures, labels, OCR), hostile files."""

from __future__ import annotations

import difflib
import io
import re
import resource
import shutil
import time
import zipfile
from pathlib import Path

import docx
import pypdf
import pytest

from studyhall.knowledge.extraction import (
    DocumentKind,
    ExtractedDocument,
    ExtractionError,
    ExtractionLimits,
    UnsupportedType,
    extract,
    sniff,
)
from studyhall.knowledge.extraction.html import extract_html
from studyhall.knowledge.extraction.pdf import MAX_NESTING, extract_pdf, max_nesting_depth
from tests.knowledge import pdfgen

EXPECTED_PAGES = {
    "en-textbook-chapter.pdf": 65,
    "fr-exercises.pdf": 3,
    "es-problem-set.pdf": 16,
    "scanned-page.pdf": 1,
}
NO_OCR = ExtractionLimits(ocr=False)


@pytest.fixture(scope="module")
def real_pdfs(pdf_dir: Path) -> dict[str, ExtractedDocument]:
    """The three born-digital PDFs, extracted once through the isolated worker."""
    return {
        name: extract((pdf_dir / name).read_bytes(), name, limits=NO_OCR)
        for name in EXPECTED_PAGES
        if name != "scanned-page.pdf"
    }


# --- real PDFs -------------------------------------------------------------------------------


def test_page_counts_of_the_real_pdfs(
    real_pdfs: dict[str, ExtractedDocument], pdf_dir: Path
) -> None:
    for name, doc in real_pdfs.items():
        assert doc.kind is DocumentKind.PDF
        assert len(doc.pages) == EXPECTED_PAGES[name], name
        assert [p.number for p in doc.pages] == list(range(1, EXPECTED_PAGES[name] + 1))
        assert all(p.has_text and not p.ocr for p in doc.pages), name
        # These files have no /PageLabels: the label would only repeat the number.
        assert all(p.label is None for p in doc.pages)
    scanned = extract((pdf_dir / "scanned-page.pdf").read_bytes(), limits=NO_OCR)
    assert len(scanned.pages) == 1


def test_text_lands_on_the_right_pages(real_pdfs: dict[str, ExtractedDocument]) -> None:
    en = real_pdfs["en-textbook-chapter.pdf"].pages
    assert "Solving nonlinear ODE and PDE" in en[0].text
    assert "1.3 Linearization by explicit time discretization" in en[5].text
    assert "1.3 Linearization by explicit time discretization" not in en[6].text
    fr = real_pdfs["fr-exercises.pdf"].pages
    assert "Exercice 1" in fr[0].text
    assert "Exercice 2" in fr[1].text and "Exercice 2" not in fr[0].text
    es = real_pdfs["es-problem-set.pdf"].pages
    assert es[0].text.startswith("Física para Mates")


def test_spanish_detached_accents_are_recombined(
    real_pdfs: dict[str, ExtractedDocument],
) -> None:
    text = real_pdfs["es-problem-set.pdf"].text
    assert "Física" in text
    for word in ("Cinemática", "colisión", "aceleración", "mínima", "cañón", "pequeño"):
        assert word in text, word
    assert "´ı" not in text and "´" not in text
    assert "ı" not in text  # every dotless i came from an accent
    assert "˜" not in text and "\u0301" not in text


@pytest.mark.parametrize("backend", ["auto", "pypdf"])
def test_ligatures_are_normalised(pdf_dir: Path, backend: str) -> None:
    # pypdf hands back U+FB00-FB04 for this file, pdfium plain letters: both must end clean.
    doc = extract_pdf(
        (pdf_dir / "en-textbook-chapter.pdf").read_bytes(), limits=NO_OCR, backend=backend
    )
    text = doc.text
    assert not re.search("[\ufb00-\ufb06]", text)
    assert not re.search("[\x00-\x08\x0b-\x1f]", text)
    for word in ("coefficient", "differential", "first", "difference", "efficient"):
        assert word in text, word
    assert "differential equations" in doc.pages[5].text  # "differ-ential" was hyphenated
    fr = extract_pdf((pdf_dir / "fr-exercises.pdf").read_bytes(), limits=NO_OCR, backend=backend)
    assert "définit" in fr.pages[0].text


def test_french_footer_page_n_sur_3(real_pdfs: dict[str, ExtractedDocument]) -> None:
    pages = real_pdfs["fr-exercises.pdf"].pages
    for page in pages:
        assert f"page {page.number} sur 3" in page.text
    assert "arêtes" in pages[0].text and "nœuds" in pages[0].text


def _similarity(a: str, b: str) -> float:
    words_a = re.findall(r"\w+", a.lower())
    words_b = re.findall(r"\w+", b.lower())
    return difflib.SequenceMatcher(None, words_a, words_b, autojunk=False).ratio()


def test_scanned_page_is_ocred_when_tesseract_is_installed(pdf_dir: Path) -> None:
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr); CI has it")
    doc = extract((pdf_dir / "scanned-page.pdf").read_bytes(), "scan.pdf")
    page = doc.pages[0]
    assert page.ocr and page.has_text
    assert "LinnSequencer" in page.text
    reference = (pdf_dir / "scanned-page.reference-ocr.txt").read_text(encoding="utf-8")
    assert _similarity(page.text, reference) > 0.8


def test_scanned_page_without_tesseract_is_marked_textless(
    pdf_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker finds tesseract through PATH: an empty PATH makes the binary unavailable.
    monkeypatch.setenv("PATH", str(tmp_path))
    doc = extract((pdf_dir / "scanned-page.pdf").read_bytes(), "scan.pdf")
    page = doc.pages[0]
    assert page.has_text is False and page.ocr is False and page.text == ""


def test_in_process_and_isolated_extraction_agree(pdf_dir: Path) -> None:
    data = (pdf_dir / "fr-exercises.pdf").read_bytes()
    isolated = extract_pdf(data, limits=NO_OCR)
    in_process = extract_pdf(data, limits=ExtractionLimits(ocr=False, isolate_pdf=False))
    assert isolated == in_process


def test_nesting_depth_of_real_pdfs_is_small(pdf_dir: Path) -> None:
    for name in EXPECTED_PAGES:
        assert max_nesting_depth((pdf_dir / name).read_bytes()) < 20


# --- built PDFs: labels, fallback, limits, hostile files ----------------------------------------


@pytest.mark.parametrize("backend", ["auto", "pypdf"])
def test_printed_page_labels_are_kept_when_they_differ(backend: str) -> None:
    labels = b"/PageLabels << /Nums [0 << /S /r >> 2 << /S /D >> 3 << /S /D /P (7-) /St 45 >>] >>"
    data = pdfgen.text_pdf(["Preface", "Contents", "Intro", "Body text"], page_labels=labels)
    doc = extract_pdf(data, limits=NO_OCR, backend=backend)
    assert [p.label for p in doc.pages] == ["i", "ii", "1", "7-45"]
    assert [p.number for p in doc.pages] == [1, 2, 3, 4]
    plain = extract_pdf(
        pdfgen.text_pdf(["a b", "c d"], page_labels=b"/PageLabels << /Nums [0 << /S /D >>] >>"),
        limits=NO_OCR,
        backend=backend,
    )
    assert [p.label for p in plain.pages] == [None, None]


# A handbook excerpt: the file starts at physical page 1, the pages print "7-45", "7-46", ...
# in a running header or footer; the third page (a chapter opening) prints nothing.
HANDBOOK = [
    "HANDBOOK OF NUMERICAL METHODS 7-45\nNewton's method converges quadratically near a root.",
    "7-46 ROOT FINDING\nThe secant method needs no derivative.\nIt converges superlinearly.",
    "Chapter opening\nBisection halves the bracket at every step.",
    "HANDBOOK OF NUMERICAL METHODS 7-48\nBrent's method combines the three.",
]


@pytest.mark.parametrize("backend", ["auto", "pypdf"])
def test_printed_labels_are_read_from_headers_without_page_labels(backend: str) -> None:
    doc = extract_pdf(pdfgen.text_pdf(HANDBOOK), limits=NO_OCR, backend=backend)
    assert [p.label for p in doc.pages] == ["7-45", "7-46", "7-47", "7-48"]
    assert [p.number for p in doc.pages] == [1, 2, 3, 4]


def test_printed_roman_front_matter_and_a_one_page_excerpt() -> None:
    front = ["Preface\nWhy this book.\nvii", "More preface.\nviii", "Intro text.\n1", "Body.\n2"]
    doc = extract_pdf(pdfgen.text_pdf(front), limits=NO_OCR)
    # Pages 3 and 4 of the file print 1 and 2: those are labels as well.
    assert [p.label for p in doc.pages] == ["vii", "viii", "1", "2"]
    single = extract_pdf(pdfgen.text_pdf(["Torque and power\nP = T w\n7-45"]), limits=NO_OCR)
    assert single.pages[0].label == "7-45"
    # Numbers that do not follow the pages (a table's last cells) are not labels.
    table = ["Results\nrun 1\n17", "Results\nrun 2\n4", "Results\nrun 3\n250"]
    assert [p.label for p in extract_pdf(pdfgen.text_pdf(table), limits=NO_OCR).pages] == [
        None,
        None,
        None,
    ]


def test_title_comes_from_metadata() -> None:
    doc = extract_pdf(pdfgen.text_pdf(["Hello"], title="Course Notes"), limits=NO_OCR)
    assert doc.title == "Course Notes"
    assert extract_pdf(pdfgen.text_pdf(["Hello"]), limits=NO_OCR).title is None


def test_pypdf_takes_over_when_pdfium_cannot_open_the_file() -> None:
    # The header sits after the first object: pdfium measures offsets from the header and gives
    # up, pypdf reads the absolute offsets of the cross-reference table.
    base = pdfgen.text_pdf(["Hello world", "Second page"])
    body = b"%%%%%%%%%" + base[9:]
    cut = body.index(b"endobj\n") + 7
    data = body[:cut] + b"%PDF-1.7\n" + body[cut:]
    assert sniff(data) is DocumentKind.PDF
    with pytest.raises(ExtractionError):
        extract_pdf(data, limits=NO_OCR, backend="pdfium")
    doc = extract_pdf(data, limits=NO_OCR)
    assert [p.text for p in doc.pages] == ["Hello world", "Second page"]


def test_too_many_pages_is_refused() -> None:
    data = pdfgen.text_pdf([f"page {i}" for i in range(5)])
    with pytest.raises(ExtractionError, match="5 pages"):
        extract_pdf(data, limits=ExtractionLimits(max_pages=3))
    assert len(extract_pdf(data, limits=ExtractionLimits(max_pages=5)).pages) == 5


def test_time_budget_is_enforced() -> None:
    data = pdfgen.text_pdf([f"page {i}" for i in range(20)])
    for isolate in (True, False):
        with pytest.raises(ExtractionError, match="time budget"):
            extract_pdf(data, limits=ExtractionLimits(time_budget_s=0.0, isolate_pdf=isolate))


def test_decompression_bomb_fails_cleanly_within_bounds() -> None:
    data = pdfgen.bomb_pdf(4 << 30)  # 4 GiB of content stream in 4 MB of file
    assert len(data) < 8 << 20
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    start = time.monotonic()
    with pytest.raises(ExtractionError, match="memory limit"):
        extract_pdf(data, limits=ExtractionLimits(max_memory_mb=768, time_budget_s=30))
    assert time.monotonic() - start < 30
    # The bomb went off in the child: this process's peak memory did not move.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 256 * 1024


def test_deep_nesting_is_refused_quickly() -> None:
    data = pdfgen.nested_pdf(50_000)
    assert max_nesting_depth(data) > MAX_NESTING
    start = time.monotonic()
    with pytest.raises(ExtractionError, match="nested"):
        extract_pdf(data)
    # Refused by a structure scan before parsing: bounded, not a time measurement.
    assert time.monotonic() - start < 10
    # Moderate nesting is normal PDF structure.
    assert len(extract_pdf(pdfgen.nested_pdf(10), limits=NO_OCR).pages) == 1


def test_stray_closers_do_not_hide_nesting() -> None:
    data = b"%PDF-1.7\n" + b">> ]" * 5000 + b"[" * 500 + b"]" * 500
    assert max_nesting_depth(data) == 500
    streamed = b"%PDF-1.7\n1 0 obj\n<< /Length 3 >>\nstream\n" + b"[" * 5000 + b"\nendstream"
    assert max_nesting_depth(streamed) == 1  # stream bodies are data, not structure


def test_password_protected_pdf_is_refused() -> None:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdfgen.text_pdf(["secret"])))
    writer.encrypt("open-sesame")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ExtractionError, match="password"):
        extract_pdf(buffer.getvalue(), limits=NO_OCR)


def test_garbage_after_a_pdf_header_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError):
        extract(b"%PDF-1.7\nthis is not a pdf at all\n" * 10)


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(ExtractionError, match="larger"):
        extract_pdf(pdfgen.text_pdf(["x"]), limits=ExtractionLimits(max_bytes=100))


# --- other formats -------------------------------------------------------------------------


def _docx_bytes() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Cell Biology"
    document.add_heading("Cell Biology", level=0)
    document.add_heading("1 Organelles", level=1)
    document.add_paragraph("The mitochondrion produces ATP. Ribosomes build proteins.")
    document.add_paragraph("Nucleus", style="List Bullet")
    document.add_paragraph("Golgi apparatus", style="List Bullet")
    document.add_heading("1.1 Membranes", level=2)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Organelle"
    table.cell(0, 1).text = "Role"
    table.cell(1, 0).text = "Lysosome"
    table.cell(1, 1).text = "Digestion"
    document.add_paragraph("Café, naïve, façade – Unicode survives.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_paragraphs_headings_lists_and_tables() -> None:
    data = _docx_bytes()
    doc = extract(data, "notes.docx")
    assert doc.kind is DocumentKind.DOCX and doc.title == "Cell Biology"
    assert len(doc.pages) == 1 and doc.pages[0].has_text
    lines = doc.pages[0].text.split("\n")
    assert "# Cell Biology" in lines
    assert "# 1 Organelles" in lines
    assert "## 1.1 Membranes" in lines
    assert "- Nucleus" in lines and "- Golgi apparatus" in lines
    assert "Organelle | Role" in lines and "Lysosome | Digestion" in lines
    assert "Café, naïve, façade – Unicode survives." in lines
    assert lines.index("# 1 Organelles") < lines.index("Lysosome | Digestion")


def test_docx_zip_bomb_is_refused() -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(_docx_bytes())) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr("word/media/padding.bin", b"\0" * (4 << 20))
    data = buffer.getvalue()
    assert len(data) < 100_000
    with pytest.raises(ExtractionError, match="inflates"):
        extract(data, limits=ExtractionLimits(max_unzipped_bytes=1 << 20))


def test_html_drops_scripts_styles_and_navigation_but_keeps_headings() -> None:
    page = b"""<!DOCTYPE html><html><head><title>Photosynthesis | Biology</title>
    <style>body { color: red }</style><script>var secret = 1;</script></head>
    <body><nav><a href="/">Home</a> <a href="/x">Menu item</a></nav>
    <h1>Photosynthesis</h1><p>Plants turn <b>light</b> into sugar.</p>
    <h2>Light reactions</h2><ul><li>Water is split</li><li>ATP is made</li></ul>
    <noscript>Enable JS</noscript><pre># not a heading
x = 1</pre></body></html>"""
    doc = extract(page, "page.bin")
    assert doc.kind is DocumentKind.HTML and doc.title == "Photosynthesis | Biology"
    text = doc.pages[0].text
    assert "# Photosynthesis" in text.split("\n")
    assert "## Light reactions" in text.split("\n")
    assert "Plants turn light into sugar." in text
    assert "- Water is split\n- ATP is made" in text
    for noise in ("secret", "color", "Menu item", "Home", "Enable JS"):
        assert noise not in text
    assert "```\n# not a heading\nx = 1\n```" in text


def test_html_prefers_main_and_refuses_absurd_nesting() -> None:
    page = b"<html><body><div>Sidebar junk</div><main><p>Real content</p></main></body></html>"
    assert extract_html(page).pages[0].text == "Real content"
    deep = b"<html><body>" + b"<div>" * 60_000 + b"x" + b"</div>" * 60_000 + b"</body></html>"
    start = time.monotonic()
    with pytest.raises(ExtractionError, match="nests"):
        extract(deep, "deep.html")
    # Refused by a structure scan before parsing: bounded, not a time measurement.
    assert time.monotonic() - start < 10


def test_markdown_headings_code_and_links() -> None:
    source = (
        "---\ntitle: Kinematics\nauthor: x\n---\n"
        "Motion\n======\n\nSee [the notes](https://example.org/notes) and ![a graph](g.png).\n\n"
        "## Velocity ##\nSpeed with a direction.\n\n```python\n# not a heading\nv = d / t\n```\n"
    )
    doc = extract(source.encode(), "kinematics.md")
    assert doc.kind is DocumentKind.MARKDOWN and doc.title == "Kinematics"
    text = doc.pages[0].text
    lines = text.split("\n")
    assert "# Motion" in lines and "## Velocity" in lines
    assert "See the notes and a graph." in lines
    assert "```python\n# not a heading\nv = d / t\n```" in text
    assert "https://" not in text and "author" not in text


def test_plain_text_in_legacy_and_utf16_encodings() -> None:
    cp1252 = "Énergie cinétique – ½ m v²\n".encode("cp1252")
    assert extract(cp1252, "notes.txt").pages[0].text == "Énergie cinétique – 1⁄2 m v2"
    utf16 = "Ωmega\tand  tabs\n\n\n\nend".encode("utf-16")
    doc = extract(utf16, "notes.txt")
    assert doc.kind is DocumentKind.TEXT
    assert doc.pages[0].text == "Ωmega and tabs\n\nend"


# --- sniffing --------------------------------------------------------------------------------


def test_sniffing_uses_content_not_the_filename(pdf_dir: Path) -> None:
    pdf = (pdf_dir / "fr-exercises.pdf").read_bytes()
    assert sniff(pdf, "homework.txt") is DocumentKind.PDF
    assert extract(pdf, "homework.txt", limits=NO_OCR).kind is DocumentKind.PDF
    assert sniff(b"junk" * 10 + pdf, "x") is DocumentKind.PDF  # header within 1024 bytes
    assert sniff(_docx_bytes(), "report.pdf") is DocumentKind.DOCX
    assert sniff(b"<html><body><p>x</p></body></html>", "a.txt") is DocumentKind.HTML
    assert sniff(b"<p>a</p><p>b</p><div>c</div>", None) is DocumentKind.HTML


def test_sniffing_markdown_versus_text() -> None:
    plain = b"Just some notes.\nNothing special here.\n"
    assert sniff(plain, "notes.md") is DocumentKind.MARKDOWN
    assert sniff(plain, "notes.txt") is DocumentKind.TEXT
    assert sniff(plain, None) is DocumentKind.TEXT
    md = b"# Title\n\nSome **bold** text and a [link](http://x.org).\n\n- item\n"
    assert sniff(md, None) is DocumentKind.MARKDOWN
    assert sniff(md, "readme.txt") is DocumentKind.TEXT  # the hint wins for text content
    assert sniff(b"\xef\xbb\xbfBOM text", "a") is DocumentKind.TEXT


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "PNG"),
        (b"MZ\x90\x00" + b"\0" * 100, "executable"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 100, "executable"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 100, "JPEG"),
        (b"", "empty"),
        (bytes(range(256)) * 4, "binary"),
    ],
)
def test_unsupported_binaries(data: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedType, match=reason):
        sniff(data, "lecture.pdf")


def test_unsupported_zip_archives() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes/readme.txt", "hello")
    with pytest.raises(UnsupportedType, match="zip archive"):
        extract(buffer.getvalue(), "notes.docx")
    sheet = io.BytesIO()
    with zipfile.ZipFile(sheet, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(UnsupportedType, match="Excel"):
        sniff(sheet.getvalue())
    assert issubclass(UnsupportedType, ExtractionError)
