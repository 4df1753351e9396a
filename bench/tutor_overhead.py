"""The tutor's own overhead, and how many SSE streams one api process holds.

Starts the real local OpenAI-compatible server (tests/peers/openai_llm.py, a subprocess) and a
real StudyHall api process (uvicorn, 1 worker, the tutor pointed at that server), ingests a small
course document, then measures, for 1 and 64 concurrent streams:

- time to first byte (first answer piece) and total time of a streamed answer asked through
  StudyHall (POST /chat/sessions/{id}/messages, Accept: text/event-stream: auth, rate limit,
  retrieval, prompt, wallet hold, relay, finalize and store);
- the same for a streamed completion asked directly of the same local server;
- the difference (medians): StudyHall's overhead.

Then it opens N streams at once (100, 250, 500 … up to --max-streams), each a slow answer that
stays open for ~10 s, and reports the largest N held with no error (aim: 500).

    .venv/bin/python bench/tutor_overhead.py [--db sqlite|postgres] [--requests 40]
        [--max-streams 750]
    .venv/bin/python bench/tutor_overhead.py --only aims [--db postgres] [--answers 60]
        [--burst 500]     # issue 12's tutor aims, offline provider: CPU, statements, TTFB p99
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from _harness import ROOT, database, free_port, percentile, postgres_available, table

PASSWORD = "bench-password-123"
PEER = ROOT / "tests" / "peers" / "openai_llm.py"
MATERIAL = (
    b"# Photosynthesis\n\nPhotosynthesis is the process by which green plants use light energy to "
    b"make glucose from carbon dioxide and water. Oxygen is released as a by-product.\n\n"
    b"# Respiration\n\nCellular respiration releases the energy stored in glucose. The mitochondria "
    b"are the organelles where aerobic respiration happens.\n"
)
QUESTION = "How do green plants make glucose?"
PIECES = 40


@dataclass
class Timing:
    ttfb: float
    total: float
    ok: bool
    error: str = ""


# ---------------------------------------------------------------- processes


@contextlib.contextmanager
def peer(*, pieces: int, delay_ms: float) -> Iterator[str]:
    """The local OpenAI-compatible server; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(PEER),
            "--port",
            str(port),
            "--pieces",
            str(pieces),
            "--delay-ms",
            str(delay_ms),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError("LLM peer did not start")
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)


_SERVE = """
import sys, uvicorn
from studyhall.config import get_settings
from studyhall.main import create_app
from studyhall.migrate import upgrade
settings = get_settings()
upgrade(settings.database_url)
app = create_app(settings)
paths = {getattr(r, "path", "") for r in app.routes}
if "/api/v1/chat/sessions" not in paths:  # until api.py mounts the tutor
    from studyhall.tutor.router import router
    app.include_router(router, prefix="/api/v1")
# What the aims need from inside the process: the statements sent (BEGIN/COMMIT left out) and
# the CPU the offline model spends composing answers (not StudyHall's own work).
import time
from sqlalchemy import event
from studyhall.tutor.providers.offline import OfflineProvider
counters = {"statements": 0, "model_cpu_s": 0.0}
def _count(_conn, _cursor, statement, *_):
    if not statement.lstrip()[:9].upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
        counters["statements"] += 1
event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", _count)
_answer = OfflineProvider._answer
class _Timed:
    # Awaits the model's coroutine, adding the CPU of each of its steps (not of other tasks).
    def __init__(self, coro):
        self.coro = coro
    def __await__(self):
        it = self.coro.__await__()
        send, arg = it.send, None
        while True:
            start = time.thread_time()
            try:
                out = send(arg)
            except StopIteration as stop:
                counters["model_cpu_s"] += time.thread_time() - start
                return stop.value
            counters["model_cpu_s"] += time.thread_time() - start
            try:
                arg, send = (yield out), it.send
            except BaseException as exc:
                arg, send = exc, it.throw
async def _timed(self, *args, **kwargs):
    return await _Timed(_answer(self, *args, **kwargs))
OfflineProvider._answer = _timed
@app.get("/bench/counters", include_in_schema=False)
async def _counters() -> dict:
    return counters
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, server_header=False,
            timeout_graceful_shutdown=2, backlog=4096)
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


SERVER_PID: list[int] = []
WORKER: list[subprocess.Popen[bytes]] = []


@contextlib.contextmanager
def studyhall(database_url: str, llm_url: str | None) -> Iterator[str]:
    """One api process (no in-process worker), tutor pointed at the peer (None: offline)."""
    data_dir = tempfile.mkdtemp(prefix="studyhall-bench-tutor-")
    port = free_port()
    env = {
        **os.environ,
        "STUDYHALL_DATABASE_URL": database_url,
        "STUDYHALL_DATA_DIR": data_dir,
        "STUDYHALL_SECRET_KEY": "bench-secret-key-0123456789-abcdefghij",
        "STUDYHALL_LOG_LEVEL": "WARNING",
        **(
            {
                "STUDYHALL_LLM__PROVIDER": "openai",
                "STUDYHALL_LLM__BASE_URL": llm_url,
                "STUDYHALL_LLM__MODEL": "peer-model",
            }
            if llm_url
            else {"STUDYHALL_LLM__PROVIDER": "offline"}
        ),
        "STUDYHALL_LLM__MAX_TOKENS": "200",
        "STUDYHALL_LLM__TIMEOUT_S": "60",
        "STUDYHALL_RATE_LIMITS__TUTOR_PER_USER": "1000000/minute",
        "STUDYHALL_BILLING__SIGNUP_BONUS": "100000000000",
        "STUDYHALL_BILLING__TIERS": json.dumps({"free": 500_000_000_000}),
        "STUDYHALL_DB_POOL_SIZE": "20",
        # The api process only serves; a separate worker ingests the document (see prepare).
        "STUDYHALL_JOBS__IN_PROCESS_WORKER": "false",
        "STUDYHALL_JOBS__POLL_INTERVAL_S": "0.2",
    }
    # BENCH_SERVER_LOG=path keeps the api process's log (errors) for a look afterwards.
    log_path = os.environ.get("BENCH_SERVER_LOG")
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(port)], env=env, stdout=log, stderr=log
    )
    SERVER_PID[:] = [process.pid]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health/ready", timeout=1).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError("StudyHall exited during start-up")
            time.sleep(0.2)
        else:
            raise RuntimeError("StudyHall did not become ready")
        subprocess.run(
            [
                str(Path(sys.executable).parent / "studyhall"),
                "create-admin",
                "--email",
                "bench@example.org",
                "--password",
                PASSWORD,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "studyhall"), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        WORKER.append(worker)
        yield base
    finally:
        for w in WORKER:
            w.terminate()
            w.wait(15)
        WORKER.clear()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------- setup


async def prepare(base: str, sessions: int) -> tuple[dict[str, str], list[str]]:
    """Log in, create a course with a document, wait for it, open chat sessions."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        login = await c.post(
            "/api/v1/auth/login", json={"email": "bench@example.org", "password": PASSWORD}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        course = await c.post(
            "/api/v1/courses",
            json={"code": "BENCH1", "title": "Bench biology", "is_published": True},
            headers=headers,
        )
        course.raise_for_status()
        course_id = course.json()["id"]
        upload = await c.post(
            f"/api/v1/courses/{course_id}/documents",
            files={"file": ("bio.md", MATERIAL)},
            data={"title": "Biology"},
            headers=headers,
        )
        upload.raise_for_status()
        document_id = upload.json()["document"]["id"]
        for _ in range(600):
            status = (await c.get(f"/api/v1/documents/{document_id}", headers=headers)).json()[
                "status"
            ]
            if status in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        # Ingestion done: stop the worker so only the api process is measured.
        for w in WORKER:
            w.terminate()
            w.wait(15)
        WORKER.clear()
        ids = []
        for _ in range(sessions):
            created = await c.post(
                "/api/v1/chat/sessions", json={"course_id": course_id}, headers=headers
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
        # One answer warms the retrieval index and the model connection.
        warm = await c.post(
            f"/api/v1/chat/sessions/{ids[0]}/messages", json={"content": QUESTION}, headers=headers
        )
        warm.raise_for_status()
        return headers, ids


# ---------------------------------------------------------------- one stream


class _Scanner:
    """Finds markers in a byte stream without splitting it into lines (a cheap client)."""

    def __init__(self) -> None:
        self.tail = b""

    def feed(self, chunk: bytes) -> bytes:
        """The chunk with the end of the previous one, so a marker cut in two is still seen."""
        window = self.tail + chunk
        self.tail = window[-32:]
        return window


async def through_studyhall(c: httpx.AsyncClient, headers: dict[str, str], chat_id: str) -> Timing:
    """A streamed tutor answer: first delta, then done."""
    start = time.perf_counter()
    ttfb = float("nan")
    ok = False
    error = ""
    try:
        async with c.stream(
            "POST",
            f"/api/v1/chat/sessions/{chat_id}/messages",
            json={"content": QUESTION},
            headers={**headers, "Accept": "text/event-stream"},
        ) as response:
            if response.status_code != 200:
                body = (await response.aread()).decode(errors="replace")[:120]
                return Timing(
                    ttfb, time.perf_counter() - start, False, f"{response.status_code} {body}"
                )
            scanner = _Scanner()
            async for chunk in response.aiter_raw():
                window = scanner.feed(chunk)
                if ttfb != ttfb and b"event: delta" in window:
                    ttfb = time.perf_counter() - start
                if b"event: error" in window:
                    error = window.decode(errors="replace")[-120:]
                if b"event: done" in window:
                    ok = True
    except httpx.HTTPError as exc:
        ok, error = False, type(exc).__name__
    return Timing(
        ttfb,
        time.perf_counter() - start,
        ok and not error,
        "" if ok and not error else error or "incomplete",
    )


async def direct(c: httpx.AsyncClient, llm_url: str) -> Timing:
    """The same streamed completion asked of the local server directly."""
    start = time.perf_counter()
    ttfb = float("nan")
    ok = False
    body = {
        "model": "peer-model",
        "messages": [
            {"role": "system", "content": "You are a tutor."},
            {"role": "user", "content": QUESTION},
        ],
        "max_tokens": 200,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    try:
        async with c.stream("POST", f"{llm_url}/chat/completions", json=body) as response:
            scanner = _Scanner()
            async for chunk in response.aiter_raw():
                window = scanner.feed(chunk)
                if ttfb != ttfb and b'"content": "word' in window:
                    ttfb = time.perf_counter() - start
                if b"data: [DONE]" in window:
                    ok = True
    except httpx.HTTPError:
        ok = False
    return Timing(ttfb, time.perf_counter() - start, ok)


async def run(concurrency: int, total: int, one: object) -> list[Timing]:
    """`total` streams, `concurrency` at a time."""
    results: list[Timing] = []
    queue = list(range(total))

    async def lane() -> None:
        while queue:
            i = queue.pop()
            results.append(await one(i))  # type: ignore[operator]

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return results


def _ms(values: list[float], q: float | None = None) -> float:
    clean = [v for v in values if v == v]
    if not clean:
        return float("nan")
    return 1000 * (statistics.median(clean) if q is None else percentile(clean, q))


async def overhead(base: str, llm_url: str, requests: int) -> list[list[str]]:
    """TTFB and total, direct vs through StudyHall, at 1 and 64 concurrent streams."""
    headers, chats = await prepare(base, 64)
    rows = [
        [
            "streams",
            "path",
            "ttfb p50 ms",
            "ttfb p95 ms",
            "total p50 ms",
            "total p95 ms",
            "errors",
            "overhead ttfb",
            "overhead total",
            "api CPU ms/answer",
        ]
    ]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
        for concurrency in (1, 64):
            n = max(requests, concurrency * 2) if concurrency > 1 else requests
            d = await run(concurrency, n, lambda i: direct(c, llm_url))
            cpu = cpu_seconds(SERVER_PID[0])
            s = await run(
                concurrency, n, lambda i: through_studyhall(c, headers, chats[i % len(chats)])
            )
            cpu_per_answer = (cpu_seconds(SERVER_PID[0]) - cpu) / n * 1000
            for name, res in (("direct", d), ("studyhall", s)):
                rows.append(
                    [
                        str(concurrency),
                        name,
                        f"{_ms([r.ttfb for r in res]):.1f}",
                        f"{_ms([r.ttfb for r in res], 0.95):.1f}",
                        f"{_ms([r.total for r in res]):.1f}",
                        f"{_ms([r.total for r in res], 0.95):.1f}",
                        str(sum(not r.ok for r in res)),
                        f"{_ms([r.ttfb for r in s]) - _ms([r.ttfb for r in d]):+.1f} ms"
                        if name == "studyhall"
                        else "",
                        f"{_ms([r.total for r in s]) - _ms([r.total for r in d]):+.1f} ms"
                        if name == "studyhall"
                        else "",
                        f"{cpu_per_answer:.1f}" if name == "studyhall" else "",
                    ]
                )
    return rows


async def capacity(base: str, levels: list[int]) -> list[list[str]]:
    """N slow streams open at once: errors, and how long the last one took."""
    top = max(levels)
    headers, chats = await prepare(base, top)
    rows = [["concurrent streams", "completed", "errors", "ttfb p50 ms", "ttfb p99 ms", "wall s"]]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    for n in levels:
        # A fresh client per level: a connection kept alive from the previous level may be
        # closed by the server (idle timeout) just as it is reused, a client-side ReadError
        # that says nothing about the server.
        async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as c:
            start = time.perf_counter()
            res = await asyncio.gather(*(through_studyhall(c, headers, chats[i]) for i in range(n)))
            wall = time.perf_counter() - start
            errors = sum(not r.ok for r in res)
            rows.append(
                [
                    str(n),
                    str(n - errors),
                    str(errors),
                    f"{_ms([r.ttfb for r in res]):.0f}",
                    f"{_ms([r.ttfb for r in res], 0.99):.0f}",
                    f"{wall:.1f}",
                ]
            )
        for reason in sorted({r.error for r in res if not r.ok}):
            print(f"  {n} streams, error: {reason}")
        if errors:
            break
    return rows


async def aims(base: str, answers: int, burst: int) -> list[list[str]]:
    """Issue 12's three tutor aims on the offline provider: StudyHall's own CPU and statements
    per answer (answers one after another), then time to first byte of `burst` streams opened
    at once."""
    headers, chats = await prepare(base, burst)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as c:
        before = (await c.get("/bench/counters")).json()
        cpu = cpu_seconds(SERVER_PID[0])
        one_by_one = [await through_studyhall(c, headers, chats[i % 64]) for i in range(answers)]
        cpu = cpu_seconds(SERVER_PID[0]) - cpu
        after = (await c.get("/bench/counters")).json()
    # The counters' own request is one statement-free GET each; its CPU is left in (tiny).
    model_cpu = after["model_cpu_s"] - before["model_cpu_s"]
    own_ms = (cpu - model_cpu) / answers * 1000
    statements = (after["statements"] - before["statements"]) / answers
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as c:
        res = await asyncio.gather(*(through_studyhall(c, headers, chats[i]) for i in range(burst)))
    errors = sum(not r.ok for r in one_by_one) + sum(not r.ok for r in res)
    for reason in sorted({r.error for r in [*one_by_one, *res] if not r.ok}):
        print(f"  error: {reason}")
    p99 = _ms([r.ttfb for r in res], 0.99)
    return [
        ["aim", "measured", "target", "met"],
        [
            "StudyHall's own CPU ms/answer",
            f"{own_ms:.1f} (+{model_cpu / answers * 1000:.1f} offline model)",
            "<= 5",
            "yes" if own_ms <= 5 else "no",
        ],
        ["SQL statements/answer", f"{statements:.1f}", "<= 8", "yes" if statements <= 8 else "no"],
        [
            f"TTFB p99 ms, {burst} streams at once",
            f"{p99:.0f} (p50 {_ms([r.ttfb for r in res]):.0f})",
            "<= 2000",
            "yes" if p99 <= 2000 else "no",
        ],
        ["errors", str(errors), "0", "yes" if errors == 0 else "no"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=40, help="streams per overhead run")
    parser.add_argument("--max-streams", type=int, default=750)
    parser.add_argument("--only", choices=["overhead", "capacity", "aims"], default=None)
    parser.add_argument("--answers", type=int, default=60, help="answers one by one (aims)")
    parser.add_argument("--burst", type=int, default=500, help="streams opened at once (aims)")
    args = parser.parse_args()
    if args.db == "postgres" and not postgres_available():
        raise SystemExit("PostgreSQL is not reachable")
    levels = [n for n in (100, 250, 500, 750, 1000) if n <= args.max_streams]
    if args.only == "aims":
        _aims(args)
        return
    if args.only != "capacity":
        _overhead(args)
    if args.only != "overhead":
        _capacity(args, levels)


def _overhead(args: argparse.Namespace) -> None:
    with database(args.db) as url:
        # Overhead: a quick answer of 40 pieces, 2 ms apart.
        with peer(pieces=PIECES, delay_ms=2) as llm_url, studyhall(url, llm_url) as base:
            rows = asyncio.run(overhead(base, llm_url, args.requests))
        print(f"== overhead ({args.db}, 1 api process, answers of {PIECES} pieces 2 ms apart)")
        print(table(rows))


def _aims(args: argparse.Namespace) -> None:
    with database(args.db) as url, studyhall(url, None) as base:
        started = time.perf_counter()
        rows = asyncio.run(aims(base, args.answers, args.burst))
    print(
        f"== issue 12's tutor aims ({args.db}, 1 api process, offline provider, "
        f"{args.answers} answers one by one, then {args.burst} streams at once; "
        f"{time.perf_counter() - started:.0f} s)"
    )
    print(table(rows))


def _capacity(args: argparse.Namespace, levels: list[int]) -> None:
    with database(args.db) as url:
        # Capacity: each answer streams for ~10 s (20 pieces, 500 ms apart, a slow model), so
        # all are open at once; the relay rate stays below what one core can forward.
        with peer(pieces=20, delay_ms=500) as llm_url, studyhall(url, llm_url) as base:
            rows = asyncio.run(capacity(base, levels))
        print(
            f"\n== concurrent SSE streams held by 1 api process ({args.db}; aim: 500 with no error)"
        )
        print(table(rows))


if __name__ == "__main__":
    main()
