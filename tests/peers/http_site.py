"""A real HTTP server on 127.0.0.1 playing a curriculum portal: index pages, PDFs, robots.txt,
redirects (also to addresses a crawler must refuse), a slow page and an endless one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering (timeouts), or an endless body (size limits).
    delay_s: float = 0.0
    endless: bool = False


@dataclass
class HTTPSite:
    """Routes by path; `hits` counts requests per path, `host_headers` keeps the Host headers."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    host_headers: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, **route: object) -> None:
        self.routes[path] = Route(**route)  # type: ignore[arg-type]

    def page(self, path: str, html: str) -> None:
        self.add(path, body=html.encode("utf-8"))

    def pdf(self, path: str, data: bytes) -> None:
        self.add(path, body=data, content_type="application/pdf")

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.add(path, status=status, headers={"Location": location}, body=b"")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                site.hits[path] += 1
                site.host_headers.append(self.headers.get("Host", ""))
                route = site.routes.get(path) or Route(status=404, body=b"not found")
                if route.delay_s:
                    time.sleep(route.delay_s)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.endless:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    chunk = b"<p>" + b"x" * 65536 + b"</p>\n"
                    try:
                        for _ in range(100_000):
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@contextmanager
def serve_site(setup: Callable[[HTTPSite], None] | None = None) -> Iterator[HTTPSite]:
    """Run an HTTPSite on a free local port for the duration of the block."""
    site = HTTPSite()
    server = ThreadingHTTPServer(("127.0.0.1", 0), site._handler())
    server.daemon_threads = True
    site.port = server.server_address[1]
    if setup is not None:
        setup(site)
    thread = threading.Thread(target=server.serve_forever, name="http-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
