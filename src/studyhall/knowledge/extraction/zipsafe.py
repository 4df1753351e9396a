"""Read a zip archive without trusting the sizes its headers declare.

A zip member's header says how large it inflates to, but nothing forces the compressed stream to
agree: a 1 MiB member can declare 1,000 bytes and inflate to 1 GiB. `zipfile` reads a member with
one `decompress()` call of up to 2 GiB, so python-docx (which reads whole members) allocated the
full inflated size before the CRC check failed. Here every member is inflated in bounded steps
(`max_length`), the bytes actually produced are counted, and reading stops as soon as a member
produces more than it declared or the archive more than its limit. The verified members are
repacked uncompressed, so the parser that reads them next cannot inflate anything.

Stdlib only: it runs inside the capped child process (see `_docx_worker`).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

__all__ = ["UnsafeZip", "inflate_members", "repack_verified"]

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_IN_CHUNK = 64 * 1024
_OUT_CHUNK = 256 * 1024


class UnsafeZip(Exception):
    """The archive is damaged, encrypted, or inflates past a limit; the message says which."""


def inflate_members(data: bytes, *, max_total: int, max_entries: int) -> dict[str, bytes]:
    """Inflate every file of the archive, counting real output; raise UnsafeZip past a limit."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnsafeZip(f"damaged zip archive ({exc})") from exc
    with archive:
        infos = archive.infolist()
    if len(infos) > max_entries:
        raise UnsafeZip(f"the archive has {len(infos)} entries (limit {max_entries})")
    declared = sum(info.file_size for info in infos)
    if declared > max_total:
        raise UnsafeZip(f"the archive inflates to {declared} bytes (limit {max_total})")
    view = memoryview(data)
    members: dict[str, bytes] = {}
    produced_total = 0
    for info in infos:
        if info.is_dir():
            continue
        payload = _inflate(view, info, budget=max_total - produced_total)
        produced_total += len(payload)
        members[info.filename] = payload
    return members


def repack_verified(members: dict[str, bytes]) -> bytes:
    """Store already-verified members uncompressed, for a parser that expects a zip file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as target:
        for name, payload in members.items():
            target.writestr(name, payload)
    return buffer.getvalue()


def _inflate(view: memoryview, info: zipfile.ZipInfo, *, budget: int) -> bytes:
    if info.flag_bits & 0x1:
        raise UnsafeZip(f"{info.filename}: encrypted members are not accepted")
    start = info.header_offset
    header = bytes(view[start : start + _LOCAL_HEADER.size])
    if len(header) != _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
        raise UnsafeZip(f"{info.filename}: bad local header")
    fields = _LOCAL_HEADER.unpack(header)
    begin = start + _LOCAL_HEADER.size + fields[10] + fields[11]
    end = begin + info.compress_size
    if end > len(view):
        raise UnsafeZip(f"{info.filename}: truncated member")
    # Never produce more than the member declared nor more than what is left of the total.
    cap = min(info.file_size, budget)
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size > cap:
            raise UnsafeZip(_too_large(info, info.compress_size, budget))
        payload = bytes(view[begin:end])
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        payload = _inflate_deflate(view[begin:end], info, cap, budget)
    else:
        raise UnsafeZip(f"{info.filename}: compression method {info.compress_type} not accepted")
    if zlib.crc32(payload) != info.CRC or len(payload) != info.file_size:
        raise UnsafeZip(f"{info.filename}: size or checksum does not match its header")
    return payload


def _inflate_deflate(raw: memoryview, info: zipfile.ZipInfo, cap: int, budget: int) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    position = 0
    pending = b""
    while not inflater.eof:
        if not pending:
            if position >= len(raw):
                break
            pending = bytes(raw[position : position + _IN_CHUNK])
            position += len(pending)
        try:
            piece = inflater.decompress(pending, _OUT_CHUNK)
        except zlib.error as exc:
            raise UnsafeZip(f"{info.filename}: corrupt deflate stream ({exc})") from exc
        pending = inflater.unconsumed_tail
        out += piece
        # The check that matters: the bytes really produced, not the header's claim.
        if len(out) > cap:
            raise UnsafeZip(_too_large(info, len(out), budget))
    return bytes(out)


def _too_large(info: zipfile.ZipInfo, produced: int, budget: int) -> str:
    if produced > info.file_size:
        return (
            f"{info.filename} inflates past the {info.file_size} bytes it declares "
            f"(stopped at {produced})"
        )
    return f"the archive inflates past its limit (stopped at {produced}, {budget} left)"
