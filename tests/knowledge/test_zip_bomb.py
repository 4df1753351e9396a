"""Finding 1 (issue 11): a DOCX whose zip headers lie about their sizes must not exhaust memory.

The attack: `word/document.xml` declares 1,000 bytes but inflates to hundreds of MiB. Before the
fix the zip-bomb check summed the declared sizes and python-docx inflated the member in one call,
so the ingesting process (the api itself on the embedded default) grew by the real size.
"""

from __future__ import annotations

import contextlib
import io
import struct
import tracemalloc
import zipfile
from collections.abc import Callable

import docx
import pytest

from studyhall.knowledge.extraction import ExtractionError, ExtractionLimits, extract
from studyhall.knowledge.extraction.zipsafe import UnsafeZip, inflate_members

MIB = 1024 * 1024
INFLATED = 256 * MIB
DECLARED = 1000


def _plain_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Lying headers", level=1)
    document.add_paragraph("Nothing to see here.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def lying_docx(inflated: int = INFLATED, declared: int = DECLARED) -> bytes:
    """A valid DOCX whose word/document.xml declares `declared` bytes but inflates to `inflated`."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(_plain_docx())) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            if item.filename == "word/document.xml":
                target.writestr(item.filename, b"<" * inflated)
            else:
                target.writestr(item, source.read(item.filename))
    data = bytearray(buffer.getvalue())
    name = b"word/document.xml"
    # Local header: uncompressed size at +22; central directory entry: at +24.
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        position = 0
        while (position := data.find(signature, position)) >= 0:
            if data[position + name_at : position + name_at + len(name)] == name:
                struct.pack_into("<L", data, position + size_at, declared)
            position += 4
    return bytes(data)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = lying_docx()
    assert len(data) < 2 * MIB
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("word/document.xml").file_size == DECLARED
    return data


def _peak_while(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with contextlib.suppress(ExtractionError):
            call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_finding_01_docx_lying_zip_sizes_do_not_exhaust_memory_of_the_ingesting_process(
    bomb: bytes,
) -> None:
    """The api/worker process never inflates the archive itself: the capped child does."""
    peak = _peak_while(lambda: extract(bomb, "bomb.docx", limits=ExtractionLimits()))
    assert peak < 32 * MIB, f"the ingesting process allocated {peak / MIB:.0f} MiB"
    with pytest.raises(ExtractionError, match="inflates past"):
        extract(bomb, "bomb.docx")


def test_finding_01_docx_lying_zip_sizes_are_stopped_by_the_inflate_counter(bomb: bytes) -> None:
    """Even in-process (isolation off) the real inflated bytes are counted and reading stops."""
    limits = ExtractionLimits(isolate_pdf=False)
    peak = _peak_while(lambda: extract(bomb, "bomb.docx", limits=limits))
    assert peak < 32 * MIB, f"in-process extraction allocated {peak / MIB:.0f} MiB"
    with pytest.raises(ExtractionError, match="inflates past the 1000 bytes it declares"):
        extract(bomb, "bomb.docx", limits=limits)


def test_inflate_counter_enforces_the_total_with_honest_headers() -> None:
    """Honest headers but many members: the running total of real bytes is capped too."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(4):
            archive.writestr(f"part{index}.bin", b"\0" * MIB)
    with pytest.raises(UnsafeZip, match="inflates to"):
        inflate_members(buffer.getvalue(), max_total=3 * MIB, max_entries=10)
    members = inflate_members(buffer.getvalue(), max_total=4 * MIB, max_entries=10)
    assert sorted(members) == [f"part{i}.bin" for i in range(4)]
    assert all(len(payload) == MIB for payload in members.values())


def test_docx_still_extracts_through_the_capped_child() -> None:
    document = extract(_plain_docx(), "plain.docx")
    assert "# Lying headers" in document.pages[0].text.split("\n")
    assert "Nothing to see here." in document.pages[0].text
