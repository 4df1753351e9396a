"""Small real MP4 containers built in the tests (ftyp, moov/mvhd, mdat) and a tus probe."""

from __future__ import annotations

import struct


def box(kind: bytes, body: bytes) -> bytes:
    """One ISO base media box."""
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mvhd(duration: int, timescale: int, *, version: int = 0) -> bytes:
    """A movie header box (the rest of its fields zeroed: rate, volume, matrix …)."""
    if version == 1:
        fields = struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        fields = struct.pack(">IIII", 0, 0, timescale, duration)
    return box(b"mvhd", bytes([version, 0, 0, 0]) + fields + bytes(80))


def tiny_mp4(duration_s: float, *, payload: bytes = b"", version: int = 0) -> bytes:
    """An MP4 whose movie header says `duration_s`, with `payload` as its media data."""
    timescale = 1000
    head = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    moov = box(b"moov", mvhd(round(duration_s * timescale), timescale, version=version))
    return head + box(b"mdat", payload) + moov
