"""Build small, exact PDF files byte by byte (hostile ones included) for extraction tests."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence


def build_pdf(objects: Sequence[bytes], *, root: int = 1, extra_trailer: bytes = b"") -> bytes:
    """Serialise numbered objects (1..n) into a PDF with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\n" % (len(objects) + 1, root, extra_trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream(data: bytes, extra: bytes = b"", *, raw_length: int | None = None) -> bytes:
    """A stream object body (the dictionary and the data)."""
    length = len(data) if raw_length is None else raw_length
    return b"<< /Length %d %s>>\nstream\n" % (length, extra) + data + b"\nendstream"


def text_pdf(pages: Sequence[str], *, page_labels: bytes = b"", title: str | None = None) -> bytes:
    """A PDF whose pages show the given ASCII lines in Helvetica (one string per page)."""
    n = len(pages)
    # 1 catalog, 2 pages, 3 font, then page/content pairs, then optional info
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R %s>>" % page_labels,
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, text in enumerate(pages):
        lines = text.split("\n")
        ops = [b"BT /F1 12 Tf 14 TL 72 720 Td"]
        for line in lines:
            esc = line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(")
            esc = esc.replace(b")", b"\\)")
            ops.append(b"(" + esc + b") Tj T*")
        ops.append(b"ET")
        content = b"\n".join(ops)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(stream(content))
    trailer = b""
    if title is not None:
        objects.append(b"<< /Title (" + title.encode("latin-1") + b") >>")
        trailer = b"/Info %d 0 R " % len(objects)
    return build_pdf(objects, extra_trailer=trailer)


def _adler32_of_spaces(n: int) -> int:
    """zlib's Adler-32 of n space bytes, in closed form (no need to build the data)."""
    mod = 65521
    a = (1 + 32 * n) % mod
    b = (n + 32 * (n * (n + 1) // 2)) % mod
    return (b << 16) | a


def deflate_bomb(inflated_size: int) -> bytes:
    """Valid zlib data inflating to inflated_size spaces (~1000:1), built in milliseconds.

    After a full flush the compressor's history is empty, so each further 16 MiB block of spaces
    compresses to the same bytes: one block is compressed and its bytes repeated.
    """
    block = b" " * (1 << 24)
    comp = zlib.compressobj(9)
    head = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    body = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    end = comp.flush()[:-4]
    blocks = max(1, inflated_size // len(block))
    checksum = struct.pack(">I", _adler32_of_spaces(blocks * len(block)))
    return head + body * (blocks - 1) + end + checksum


def bomb_pdf(inflated_size: int) -> bytes:
    """One page whose content stream is a FlateDecode bomb."""
    data = deflate_bomb(inflated_size)
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            stream(data, b"/Filter /FlateDecode "),
        ]
    )


def nested_pdf(depth: int) -> bytes:
    """One page whose resources hold arrays and dictionaries nested depth levels deep."""
    nest = b"[<< /A " * depth + b"1" + b" >>]" * depth
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Deep " + nest + b" >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /X " + nest + b" >> >>",
            stream(b"BT ET"),
        ]
    )


# T1 (Cork) font positions of the ligature glyphs, as TeX's fontenc lays them out.
CORK_LIGATURES = {"ffi": 0x1E, "ffl": 0x1F, "ff": 0x1B, "fi": 0x1C, "fl": 0x1D}


def ligature_pdf(pages: Sequence[str], *, text_layer: str) -> bytes:
    """A PDF drawing ff/fi/fl/ffi/ffl with ligature glyphs whose text layer loses them.

    text_layer says how, as real decks do: "control" (no ToUnicode map, so the font's T1
    positions 0x1B-0x1F come out as control characters), "replacement" (the map sends them to
    U+FFFD) or "dropped" (the map sends them to U+0000, so they vanish).
    """
    names = b" ".join(b"%d /%s" % (code, name.encode()) for name, code in CORK_LIGATURES.items())
    target = {"control": None, "replacement": b"FFFD", "dropped": b"0000"}[text_layer]
    n = len(pages)
    kids = b" ".join(b"%d 0 R" % (5 + 2 * i) for i in range(n))
    to_unicode = b"" if target is None else b"/ToUnicode 4 0 R "
    pairs = b" ".join(b"<%02X> <%s>" % (code, target or b"") for code in CORK_LIGATURES.values())
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Lig def "
        b"1 begincodespacerange <00> <FF> endcodespacerange "
        b"%d beginbfchar %s endbfchar endcmap CMapName currentdict /CMap defineresource pop "
        b"end end" % (len(CORK_LIGATURES), pairs)
    )
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding "
        b"/BaseEncoding /WinAnsiEncoding /Differences [%s] >> %s>>" % (names, to_unicode),
        stream(cmap),
    ]
    for i, text in enumerate(pages):
        ops = [b"BT /F1 12 Tf 14 TL 72 720 Td"]
        for line in text.split("\n"):
            raw = line.encode("cp1252")
            for name, code in CORK_LIGATURES.items():  # longest first: ffi before ff
                raw = raw.replace(name.encode(), bytes([code]))
            raw = raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
            ops.append(b"(" + raw + b") Tj T*")
        ops.append(b"ET")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (6 + 2 * i)
        )
        objects.append(stream(b"\n".join(ops)))
    return build_pdf(objects)


def layout_pdf(
    pages: Sequence[Sequence[tuple[str, float, bool, float]]],
    *,
    scaled: bool = False,
    media: tuple[float, float] = (612, 792),
) -> bytes:
    """A PDF of positioned lines: (text, size in points, bold, baseline y) in Helvetica.

    media is the page's width and height in points (a 4:3 beamer slide is 364 x 273).

    scaled=True sets every line at font size 1 and scales it with the text matrix instead, as
    some generators do (pdfium then reports a font size of 1 for every letter).
    """
    n = len(pages)
    kids = b" ".join(b"%d 0 R" % (5 + 2 * i) for i in range(n))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    left = 72 if media[0] >= 500 else 18  # a slide's narrow margin
    for i, lines in enumerate(pages):
        ops = []
        for text, size, bold, y in lines:
            esc = text.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(")
            esc = esc.replace(b")", b"\\)")
            font = b"/F2" if bold else b"/F1"
            if scaled:
                ops.append(
                    b"BT %s 1 Tf %g 0 0 %g %g %g Tm (%s) Tj ET" % (font, size, size, left, y, esc)
                )
            else:
                ops.append(b"BT %s %g Tf %g %g Td (%s) Tj ET" % (font, size, left, y, esc))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>"
            % (media[0], media[1], 6 + 2 * i)
        )
        objects.append(stream(b"\n".join(ops)))
    return build_pdf(objects)
