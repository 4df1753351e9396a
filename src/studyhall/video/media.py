"""A video file's duration: ffprobe when it is installed, else the MP4/QuickTime `mvhd` box;
and its media type, from its first bytes.

The fallback reads only box headers (seeking past `mdat`, which holds the media), so a file of
several GB costs a few small reads. It understands ISO base media files (MP4, MOV, M4V, 3GP);
for anything else, without ffprobe, the duration stays unknown rather than guessed.

The media type the stream is served with comes from the file's signature, never from what the
uploader declared (a declared `text/html` served inline would run in StudyHall's origin): a
container not recognised here is `application/octet-stream`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
from pathlib import Path
from typing import BinaryIO

FFPROBE_TIMEOUT_S = 60.0
# Boxes whose children hold `mvhd`; everything else is skipped by its size.
_CONTAINERS = {b"moov"}
_MAX_BOXES = 10_000


async def read_duration(path: Path) -> float | None:
    """Seconds of the video at `path`, or None when it cannot be read."""
    if shutil.which("ffprobe"):
        seconds = await _ffprobe(path)
        if seconds is not None:
            return seconds
    return await asyncio.to_thread(mp4_duration, path)


async def _ffprobe(path: Path) -> float | None:
    process = await asyncio.create_subprocess_exec(
        "ffprobe",
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "json",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), FFPROBE_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    try:
        value = float(json.loads(out)["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        return None
    return value if value >= 0 else None


OCTET_STREAM = "application/octet-stream"
# Enough for two MPEG-TS packets (188 bytes each) and an EBML header's DocType.
_SNIFF_BYTES = 2 * 188 + 1


async def read_media_type(path: Path) -> str:
    """The video media type of the file at `path`, from its signature."""
    return await asyncio.to_thread(_sniff_file, path)


def _sniff_file(path: Path) -> str:
    with path.open("rb") as handle:
        return media_type_of(handle.read(_SNIFF_BYTES))


def media_type_of(head: bytes) -> str:
    """The media type a file starting with `head` is served as."""
    if head[4:8] == b"ftyp":
        # QuickTime's brand; every other ISO base media brand plays as MP4.
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or its WebM profile
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"OggS"):
        return "video/ogg"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if len(head) > 2 * 188 and head[0] == head[188] == head[2 * 188] == 0x47:
        return "video/mp2t"  # MPEG transport stream: a sync byte every 188 bytes
    return OCTET_STREAM


def mp4_duration(path: Path) -> float | None:
    """Duration from the movie header box (`moov/mvhd`): duration ÷ timescale."""
    with path.open("rb") as handle:
        end = handle.seek(0, 2)
        return _find_mvhd(handle, 0, end, depth=0)


def _find_mvhd(handle: BinaryIO, start: int, end: int, *, depth: int) -> float | None:
    position = start
    for _ in range(_MAX_BOXES):
        if position + 8 > end:
            return None
        handle.seek(position)
        header = handle.read(8)
        if len(header) < 8:
            return None
        size, kind = struct.unpack(">I4s", header)
        header_size = 8
        if size == 1:  # 64-bit size follows the type
            large = handle.read(8)
            if len(large) < 8:
                return None
            size = struct.unpack(">Q", large)[0]
            header_size = 16
        elif size == 0:  # the box runs to the end of the file
            size = end - position
        if size < header_size or position + size > end:
            return None
        body = position + header_size
        if kind == b"mvhd":
            return _mvhd_seconds(handle, body, position + size)
        if kind in _CONTAINERS and depth < 4:
            found = _find_mvhd(handle, body, position + size, depth=depth + 1)
            if found is not None:
                return found
        position += size
    return None


def _mvhd_seconds(handle: BinaryIO, body: int, end: int) -> float | None:
    handle.seek(body)
    version = handle.read(1)
    if not version:
        return None
    handle.seek(body + 4)  # version (1) + flags (3)
    if version[0] == 1:
        # creation (8), modification (8), timescale (4), duration (8)
        fields = handle.read(28)
        if len(fields) < 28 or body + 4 + 28 > end:
            return None
        timescale, duration = struct.unpack(">16xIQ", fields)
    else:
        # creation (4), modification (4), timescale (4), duration (4)
        fields = handle.read(16)
        if len(fields) < 16 or body + 4 + 16 > end:
            return None
        timescale, duration = struct.unpack(">8xII", fields)
        if duration == 0xFFFFFFFF:  # "unknown" in version 0
            return None
    if timescale == 0:
        return None
    return duration / timescale
