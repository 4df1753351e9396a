"""Video uploads and playback: throughput through StudyHall as a ratio to the plain file
operations on the same disk, in the same run.

Upload: one file sent to StudyHall's tus endpoint in 8 MiB PATCHes (real server, real TCP,
the embedded default: SQLite, storage under DATA_DIR) ÷ a plain copy of the same bytes into the
same data directory (then fsync, as each PATCH does). Playback: the whole file read back through
`GET /videos/{id}/stream` in 8 MiB Range requests, plus random 256 KiB ranges (seeking) ÷ the
same reads from the stored file (read over one kept-alive connection by a minimal HTTP/1.1
reader, so the client's parsing is not what is measured). A ratio of 1.0 means "as fast as the
disk"; the file reads come from the page cache, so playback's ratio measures StudyHall's cost
per byte served against a memory copy.

    .venv/bin/python bench/video_throughput.py [--size-mib 1024] [--postgres]

The default is issue 15's 1 GiB; --size-mib 256 is a quicker look.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
from _harness import BIN, database, postgres_available, server, table

PASSWORD = "Bench-Password-0123456789"
API = "/api/v1"
PIECE = 8 * 1024 * 1024
SEEK = 256 * 1024
SEEKS = 200


def _admin(srv_env: dict[str, str], base: str) -> dict[str, str]:
    email = "admin@bench.example.org"
    subprocess.run(
        [str(BIN / "studyhall"), "create-admin", "--email", email, "--password", PASSWORD],
        env=srv_env,
        check=True,
        capture_output=True,
    )
    login = httpx.post(f"{base}{API}/auth/login", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _make_source(path: Path, size: int) -> None:
    block = os.urandom(PIECE)
    with path.open("wb") as handle:
        left = size
        while left > 0:
            handle.write(block[: min(left, PIECE)])
            left -= PIECE
        handle.flush()
        os.fsync(handle.fileno())


def _plain_copy(source: Path, target: Path) -> float:
    start = time.perf_counter()
    with source.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, PIECE)
        dst.flush()
        os.fsync(dst.fileno())
    return time.perf_counter() - start


def _upload(
    client: httpx.Client, headers: dict[str, str], course: str, source: Path
) -> tuple[str, float]:
    size = source.stat().st_size
    start = time.perf_counter()
    created = client.post(
        f"{API}/courses/{course}/videos",
        json={"title": "Bench lecture", "size_bytes": size},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    # upload_link is built on PUBLIC_URL; the bench server listens on a port of its own.
    link = httpx.URL(created.json()["upload_link"]).path
    offset = 0
    with source.open("rb") as handle:
        while offset < size:
            piece = handle.read(PIECE)
            response = client.patch(
                link,
                content=piece,
                headers={
                    **headers,
                    "Tus-Resumable": "1.0.0",
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(offset),
                },
            )
            assert response.status_code == 204, response.text
            offset = int(response.headers["Upload-Offset"])
    return created.json()["video_id"], time.perf_counter() - start


def _ranges(size: int) -> list[tuple[int, int]]:
    sequential = [(start, min(start + PIECE, size)) for start in range(0, size, PIECE)]
    rng = random.Random(15)
    seeks = [(s, s + SEEK) for s in (rng.randrange(0, size - SEEK) for _ in range(SEEKS))]
    return sequential + seeks


def _read_head(sock: socket.socket, pending: bytes) -> tuple[bytes, bytes]:
    """A response's head, and the bytes after it already received."""
    while b"\r\n\r\n" not in pending:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("the server closed the connection")
        pending += more
    head, _, rest = pending.partition(b"\r\n\r\n")
    return head, rest


def _read_http(
    base_url: str, headers: dict[str, str], video_id: str, ranges: list[tuple[int, int]]
) -> tuple[float, int]:
    """The ranges through `GET /videos/{id}/stream`, over one kept-alive connection with a
    minimal HTTP/1.1 reader: httpx's own response handling costs more than the server's work
    (on this machine 173 MiB/s through httpx against 395 MiB/s read off the socket), and a
    browser's player does not pay it."""
    url = httpx.URL(base_url)
    sock = socket.create_connection((url.host, url.port or 80))
    buffer = memoryview(bytearray(PIECE))
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    start = time.perf_counter()
    total = 0
    pending = b""
    try:
        for first, end in ranges:
            sock.sendall(
                f"GET {API}/videos/{video_id}/stream HTTP/1.1\r\nHost: {url.host}\r\n"
                f"Range: bytes={first}-{end - 1}\r\n{extra}\r\n".encode()
            )
            head, pending = _read_head(sock, pending)
            status = int(head.split(b" ", 2)[1])
            assert status == 206, status
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")[1:]
                if line.lower().startswith(b"content-length:")
            )
            left = length - len(pending)
            assert left >= 0, "the server sent more than Content-Length"
            pending = b""
            while left:
                received = sock.recv_into(buffer, min(left, len(buffer)))
                if not received:
                    raise ConnectionError("the server closed the connection mid-body")
                left -= received
            total += length
    finally:
        sock.close()
    return time.perf_counter() - start, total


def _read_file(path: Path, ranges: list[tuple[int, int]]) -> tuple[float, int]:
    start = time.perf_counter()
    total = 0
    with path.open("rb") as handle:
        for first, end in ranges:
            handle.seek(first)
            total += len(handle.read(end - first))
    return time.perf_counter() - start, total


def run(kind: str, size: int) -> list[str]:
    with database(kind) as url, server(url, start_timeout_s=180) as srv:
        data_dir = Path(srv.env["STUDYHALL_DATA_DIR"])
        headers = _admin(srv.env, srv.base_url)
        client = httpx.Client(base_url=srv.base_url, timeout=600)
        course = client.post(
            f"{API}/courses", json={"code": "BENCHVID", "title": "Bench"}, headers=headers
        ).json()["id"]
        source = data_dir / "bench-source.bin"
        _make_source(source, size)
        copy_s = _plain_copy(source, data_dir / "bench-copy.bin")
        (data_dir / "bench-copy.bin").unlink()
        video_id, upload_s = _upload(client, headers, course, source)
        stored = next((data_dir / "files" / "videos").iterdir())
        assert stored.stat().st_size == size
        ranges = _ranges(size)
        _read_file(stored, ranges[:4])  # warm both paths alike
        http_s, http_bytes = _read_http(srv.base_url, headers, video_id, ranges)
        file_s, file_bytes = _read_file(stored, ranges)
        assert http_bytes == file_bytes
        mib = size / 2**20
        read_mib = http_bytes / 2**20
        return [
            kind,
            f"{mib:.0f}",
            f"{mib / upload_s:.0f}",
            f"{mib / copy_s:.0f}",
            f"{copy_s / upload_s:.2f}",
            f"{read_mib / http_s:.0f}",
            f"{read_mib / file_s:.0f}",
            f"{file_s / http_s:.3f}",
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (1 GiB by default)")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    size = args.size_mib * 2**20
    rows = [
        [
            "database",
            "MiB",
            "upload MiB/s",
            "copy MiB/s",
            "upload / copy",
            "Range MiB/s",
            "file MiB/s",
            "Range / file",
        ]
    ]
    rows.append(run("sqlite", size))
    if args.postgres and postgres_available():
        rows.append(run("postgresql", size))
    print(table(rows))


if __name__ == "__main__":
    main()
