"""A real OpenAI-compatible embeddings server on 127.0.0.1 for tests (stdlib http.server).

POST /v1/embeddings answers like OpenAI: deterministic vectors derived from each input's SHA-256,
as floats or base64 (the `openai` client's default). Special model names misbehave on purpose:
"fail-500" returns a server error, "wrong-size" returns vectors of a different size from the
second input on, "short" returns one vector fewer than asked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def peer_vector(text: str, dimension: int) -> np.ndarray:
    """The (unnormalised) vector the peer returns for a text."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)


@dataclass
class EmbeddingsPeer:
    """State shared with the handler: the requests seen, for assertions."""

    dimension: int = 16
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""


def _handler(peer: EmbeddingsPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/embeddings":
                self._send(404, {"error": {"message": "not found", "type": "invalid_request"}})
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            peer.requests.append(body)
            peer.headers.append({k.lower(): v for k, v in self.headers.items()})
            model = body.get("model", "")
            if model == "fail-500":
                self._send(500, {"error": {"message": "boom", "type": "server_error"}})
                return
            inputs = body["input"]
            if isinstance(inputs, str):
                inputs = [inputs]
            data = []
            for index, text in enumerate(inputs):
                size = peer.dimension + (1 if model == "wrong-size" and index > 0 else 0)
                vector = peer_vector(text, size)
                if body.get("encoding_format") == "base64":
                    embedding: Any = base64.b64encode(vector.tobytes()).decode()
                else:
                    embedding = vector.tolist()
                data.append({"object": "embedding", "index": index, "embedding": embedding})
            if model == "short":
                data = data[:-1]
            # Out of order on purpose: clients must sort by "index".
            data.reverse()
            tokens = sum(len(t.split()) for t in inputs)
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
            )

    return Handler


@contextmanager
def serve_embeddings(dimension: int = 16) -> Iterator[EmbeddingsPeer]:
    """Run the server on a free port for the duration of the block."""
    peer = EmbeddingsPeer(dimension=dimension)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(peer))
    server.daemon_threads = True
    peer.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    # A short poll interval makes shutdown() return promptly at the end of each test.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
