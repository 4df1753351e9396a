"""A real OpenAI-compatible chat-completions server on 127.0.0.1, with scripted behaviours.

Tests start it in a thread (`with LLMPeer() as llm:`), point the tutor at `llm.base_url`, queue
behaviours for the next requests (`llm.script("error_429", "normal")`; afterwards `llm.default`
applies), queue replies (`llm.script_replies("a", "b")`; afterwards `llm.reply`) and inspect
what it received (`llm.requests`) and reported (`llm.usages`).

Behaviours:
- normal: the reply (`llm.reply`), as JSON or as an SSE stream of word pieces with the usage in
  a last chunk when the request asks for it (`stream_options.include_usage`);
- no_usage: like normal but never reports usage;
- error_500: 500 with an OpenAI-style error body;
- error_429: 429 with `retry-after-ms: 5`;
- hang: accepts the request and never answers (until the client gives up);
- hang_mid_stream: streams two pieces, then goes silent;
- cut: streams two pieces, then drops the connection in the middle of the chunked body;
- malformed: streams a piece, then a `data:` line that is not JSON;
- slow: streams `llm.slow_pieces` pieces `llm.chunk_delay_s` apart (disconnect tests), noting in
  `llm.disconnects` when the client went away before the end.

Usage it reports: prompt_tokens = 7 + the number of whitespace-separated words of all messages;
completion_tokens = the number of pieces of the reply. Deliberately not our own estimate, so a
test can tell reported usage from estimated usage.

Also runnable alone for benchmarks: `python tests/peers/openai_llm.py --port 8901 --pieces 40
--delay-ms 5` serves `normal` forever.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BEHAVIOURS = frozenset(
    {
        "normal",
        "no_usage",
        "error_500",
        "error_429",
        "hang",
        "hang_mid_stream",
        "cut",
        "malformed",
        "slow",
    }
)
DEFAULT_REPLY = "Photosynthesis turns light energy into chemical energy stored in glucose [1]."


class _Abort(Exception):
    """Raised inside a response to make the server drop the connection mid-body."""


class LLMPeer:
    """The scripted server and everything it saw."""

    def __init__(self, *, reply: str = DEFAULT_REPLY, chunk_delay_s: float = 0.0) -> None:
        self.reply = reply
        self.default = "normal"
        self.chunk_delay_s = chunk_delay_s
        self.slow_pieces = 200
        self._queue: deque[str] = deque()
        self._replies: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.usages: list[dict[str, int]] = []
        self.disconnects = 0
        self.completed_streams = 0
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ control

    @property
    def base_url(self) -> str:
        """What to give the openai client as base_url."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def request_count(self) -> int:
        """Chat-completion requests received so far."""
        return len(self.requests)

    def script(self, *behaviours: str) -> None:
        """Behaviours for the next requests, in order."""
        for b in behaviours:
            if b not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {b}")
        with self._lock:
            self._queue.extend(behaviours)

    def script_replies(self, *texts: str) -> None:
        """Replies for the next answering requests, in order (afterwards `reply`)."""
        with self._lock:
            self._replies.extend(texts)

    def reset(self) -> None:
        """Forget the script and what was received."""
        with self._lock:
            self._queue.clear()
            self._replies.clear()
            self.requests.clear()
            self.usages.clear()
            self.disconnects = 0
            self.completed_streams = 0
            self.default = "normal"

    def _next_behaviour(self) -> str:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def start(self, port: int = 0) -> LLMPeer:
        """Serve in a background thread until `stop`."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self,
            log_level="critical",
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            backlog=4096,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("LLM peer did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (hanging requests are dropped)."""
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> LLMPeer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if scope["method"] == "GET" and path.endswith("/models"):
            await _json(
                send, 200, {"object": "list", "data": [{"id": "peer-model", "object": "model"}]}
            )
            return
        if scope["method"] != "POST" or not path.endswith("/chat/completions"):
            await _json(
                send, 404, {"error": {"message": "not found", "type": "invalid_request_error"}}
            )
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body)
        behaviour = self._next_behaviour()
        with self._lock:
            self.requests.append({**request, "_behaviour": behaviour, "_headers": _headers(scope)})
        await self._respond(behaviour, request, receive, send)

    def _usage(self, request: dict[str, Any], pieces: int) -> dict[str, int]:
        words = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        usage = {"prompt_tokens": 7 + words, "completion_tokens": pieces}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return usage

    def _pieces(self, behaviour: str) -> list[str]:
        if behaviour == "slow":
            return [f"word{i} " for i in range(self.slow_pieces)]
        with self._lock:
            reply = self._replies.popleft() if self._replies else self.reply
        words = reply.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]

    async def _respond(
        self, behaviour: str, request: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        if behaviour == "error_500":
            await _json(send, 500, {"error": {"message": "peer exploded", "type": "server_error"}})
            return
        if behaviour == "error_429":
            await _json(
                send,
                429,
                {"error": {"message": "slow down", "type": "rate_limit_error"}},
                extra=[(b"retry-after-ms", b"5")],
            )
            return
        if behaviour == "hang":
            await _wait_for_disconnect(receive)
            return
        model = request.get("model", "peer-model")
        pieces = self._pieces(behaviour)
        if not request.get("stream"):
            usage = self._usage(request, len(pieces))
            reply: dict[str, Any] = {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(pieces)},
                        "finish_reason": "stop",
                    }
                ],
            }
            if behaviour != "no_usage":
                reply["usage"] = usage
                self.usages.append(usage)
            await _json(send, 200, reply)
            return
        await self._stream(behaviour, request, pieces, receive, send)

    async def _stream(
        self,
        behaviour: str,
        request: dict[str, Any],
        pieces: list[str],
        receive: Receive,
        send: Send,
    ) -> None:
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
        model = request.get("model", "peer-model")
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.create_task(watch())

        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
            payload = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                if usage is None
                else [],
            }
            if include_usage:
                payload["usage"] = usage
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        async def emit(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream"),
                        (b"cache-control", b"no-cache"),
                    ],
                }
            )
            await emit(chunk({"role": "assistant", "content": ""}))
            for i, piece in enumerate(pieces):
                if gone.is_set():
                    self.disconnects += 1
                    return
                if behaviour in ("cut", "hang_mid_stream") and i == 2:
                    if behaviour == "cut":
                        raise _Abort("dropping the connection on purpose")
                    await _wait_for(gone)
                    return
                if behaviour == "malformed" and i == 1:
                    await emit(b'data: {"id": "broken", "choices": [{"delta": {"content": "x"\n\n')
                await emit(chunk({"content": piece}))
                if self.chunk_delay_s or behaviour == "slow":
                    delay = self.chunk_delay_s or 0.02
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_wait_for(gone), delay)
            await emit(chunk({}, "stop"))
            if include_usage and behaviour != "no_usage":
                usage = self._usage(request, len(pieces))
                self.usages.append(usage)
                await emit(chunk({}, usage=usage))
            await send(
                {"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False}
            )
            self.completed_streams += 1
        finally:
            watcher.cancel()


async def _wait_for(event: asyncio.Event) -> None:
    await event.wait()


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _json(
    send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})


def main() -> None:
    """Serve `normal` answers on a fixed port (benchmarks)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pieces", type=int, default=40)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    peer = LLMPeer(
        reply=" ".join(f"word{i}" for i in range(args.pieces)), chunk_delay_s=args.delay_ms / 1000
    )
    peer.start(args.port)
    print(f"ready {peer.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        peer.stop()


if __name__ == "__main__":
    main()
