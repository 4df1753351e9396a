"""Shared pieces of the benchmarks: start a real StudyHall server, generate load, print tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_BASE = os.environ.get(
    "STUDYHALL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_available() -> bool:
    try:

        async def _ping() -> None:
            import asyncpg

            conn = await asyncpg.connect(PG_BASE, timeout=3)
            await conn.close()

        asyncio.run(_ping())
        return True
    except Exception:
        return False


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh database URL of the given kind, removed afterwards."""
    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix="studyhall-bench-")
        try:
            yield f"sqlite:///{tmp}/bench.db"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    import asyncpg

    name = f"studyhall_bench_{uuid.uuid4().hex[:8]}"

    async def _exec(sql: str) -> None:
        conn = await asyncpg.connect(PG_BASE, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(_exec(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_BASE.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]


@contextlib.contextmanager
def server(
    database_url: str,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    start_timeout_s: float = 60,
) -> Iterator[Server]:
    """Run `studyhall serve` as a user would, on a free port, until the block ends."""
    data_dir = tempfile.mkdtemp(prefix="studyhall-bench-data-")
    port = free_port()
    env = {
        **os.environ,
        "STUDYHALL_DATABASE_URL": database_url,
        "STUDYHALL_DATA_DIR": data_dir,
        "STUDYHALL_SECRET_KEY": "bench-secret-key-0123456789-abcdefghij",
        "STUDYHALL_LOG_LEVEL": "WARNING",
        "STUDYHALL_JOBS__IN_PROCESS_WORKER": "false",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [str(BIN / "studyhall"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError("server exited during start-up")
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready")
        yield Server(base, process, env)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str


def _parse_wrk_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def load(
    url: str, *, headers: dict[str, str] | None = None, connections: int = 64, seconds: float = 8
) -> LoadResult:
    """Load one URL from a separate process: wrk when installed, else a Python generator."""
    headers = headers or {}
    if shutil.which("wrk"):
        cmd = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
        for key, value in headers.items():
            cmd += ["-H", f"{key}: {value}"]
        out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = _parse_wrk_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
        p99 = _parse_wrk_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        socket_errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
        )
        errors = int(non2xx.group(1)) if non2xx else 0
        if socket_errors:
            errors += sum(int(x) for x in socket_errors.groups())
        return LoadResult(rps, p50, p99, errors, "wrk")
    script = ROOT / "bench" / "_pyload.py"
    out = subprocess.run(
        [sys.executable, str(script), url, str(connections), str(seconds), json.dumps(headers)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    return LoadResult(data["rps"], data["p50_ms"], data["p99_ms"], data["errors"], "python")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of a list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(rows: list[list[str]]) -> str:
    """A plain aligned text table."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
