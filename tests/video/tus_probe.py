"""One tus conformance probe, run against StudyHall and against the reference server
(`@tus/server`), so the probe itself is known to be right.

With the official Python client (tuspy): create an upload, send its first pieces, then kill a
PATCH's connection half way through its body, ask HEAD for the offset, resume from there with a
new client, and hand back the upload URL for the caller to compare the stored bytes.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from urllib.parse import urlsplit

import requests
from tusclient.client import TusClient


def head_offset(url: str, headers: dict[str, str]) -> int:
    """HEAD's Upload-Offset."""
    response = requests.head(url, headers={**headers, "Tus-Resumable": "1.0.0"}, timeout=30)
    assert response.status_code in (200, 204), response.status_code
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers.get("Cache-Control") == "no-store"
    return int(response.headers["Upload-Offset"])


def killed_patch(url: str, headers: dict[str, str], offset: int, body: bytes, sent: int) -> None:
    """A PATCH announcing `len(body)` bytes whose connection dies after `sent` of them."""
    parts = urlsplit(url)
    lines = [
        f"PATCH {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Tus-Resumable: 1.0.0",
        "Content-Type: application/offset+octet-stream",
        f"Upload-Offset: {offset}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body[:sent])
        # Let the server take in what was sent before the connection goes.
        sock.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            sock.recv(1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def probe(
    endpoint: str,
    data: bytes,
    *,
    headers: dict[str, str],
    metadata: dict[str, str],
    piece: int,
) -> tuple[str, int]:
    """Upload `data` the hard way; return the upload URL and the offset HEAD reported after
    the killed PATCH. Asserts the protocol on the way."""
    assert len(data) > 4 * piece
    client = TusClient(endpoint, headers=headers)
    first = client.uploader(file_stream=io.BytesIO(data), chunk_size=piece, metadata=metadata)
    first.upload(stop_at=2 * piece)
    url = first.url
    assert url is not None and first.offset == 2 * piece
    assert head_offset(url, headers) == 2 * piece

    # The connection dies half way through the next piece's body.
    killed_patch(url, headers, 2 * piece, data[2 * piece : 3 * piece], piece // 2)
    # The server records what arrived once it notices the connection is gone.
    deadline = time.monotonic() + 5
    after = head_offset(url, headers)
    while after == 2 * piece and time.monotonic() < deadline:
        time.sleep(0.05)
        after = head_offset(url, headers)
    assert 2 * piece <= after <= 2 * piece + piece // 2, after

    # A new client resumes from HEAD's offset and sends the rest.
    resumed = client.uploader(file_stream=io.BytesIO(data), url=url, chunk_size=piece)
    assert resumed.offset == after
    resumed.upload()
    assert head_offset(url, headers) == len(data)
    return url, after
