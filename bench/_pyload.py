"""Fallback load generator (when wrk is absent): keep-alive HTTP/1.1 over asyncio streams."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def _client(
    host: str, port: int, request: bytes, stop: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not status_line.startswith(b"HTTP/1.1 2"):
                errors.append(1)
    finally:
        writer.close()


async def main(url: str, connections: int, seconds: float, headers: dict[str, str]) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode()
    latencies: list[float] = []
    errors: list[int] = []
    stop = time.perf_counter() + seconds
    await asyncio.gather(
        *(_client(host, port, request, stop, latencies, errors) for _ in range(connections))
    )
    latencies.sort()
    print(
        json.dumps(
            {
                "rps": len(latencies) / seconds,
                "p50_ms": latencies[len(latencies) // 2] * 1000,
                "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
                "errors": len(errors),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])))
