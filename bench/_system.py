"""Pieces of the whole-system benchmark on top of _harness.py and tests/system/_cluster.py:
the peers as separate processes, wrk against several api processes at once, and timed phases."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _harness import ROOT, LoadResult, _parse_wrk_ms, free_port

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.system._cluster import Call, Recorder

LLM_PEER = ROOT / "tests" / "peers" / "openai_llm.py"
CLUSTER = ROOT / "tests" / "system" / "_cluster.py"


@contextlib.contextmanager
def _ready_process(cmd: list[str]) -> Iterator[str]:
    """A peer process that prints `ready <base_url>`; yields the URL."""
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError(f"{cmd[1]} did not start")
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)


def llm_peer(*, pieces: int = 40, delay_ms: float = 0) -> contextlib.AbstractContextManager[str]:
    """The local OpenAI-compatible chat server (tests/peers/openai_llm.py) as a process."""
    port = free_port()
    cmd = [sys.executable, str(LLM_PEER), "--port", str(port), "--pieces", str(pieces)]
    return _ready_process([*cmd, "--delay-ms", str(delay_ms)])


def embeddings_peer() -> contextlib.AbstractContextManager[str]:
    """The local OpenAI-compatible embeddings server as a process."""
    return _ready_process([sys.executable, str(CLUSTER), "embeddings"])


@dataclass
class WrkTarget:
    url: str
    headers: dict[str, str]
    method: str = "GET"
    body: str | None = None


def _wrk_script(target: WrkTarget) -> str | None:
    if target.method == "GET":
        return None
    fd, path = tempfile.mkstemp(suffix=".lua", prefix="studyhall-wrk-")
    body = (target.body or "").replace("\\", "\\\\").replace("'", "\\'")
    with os.fdopen(fd, "w") as f:
        f.write(f"wrk.method = '{target.method}'\nwrk.body = '{body}'\n")
        f.write("wrk.headers['Content-Type'] = 'application/json'\n")
    return path


def wrk_all(targets: list[WrkTarget], *, connections: int, seconds: float) -> LoadResult:
    """Load every target at once (one wrk each, the connections split between them): the
    summed requests/s; p50 the mean and p99 the worst of the wrk processes."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is required for the /health baseline (apt-get install wrk)")
    per = max(2, connections // len(targets))
    running = []
    scripts = []
    for t in targets:
        cmd = ["wrk", "-t1", f"-c{per}", f"-d{int(seconds)}s", "--latency"]
        for key, value in t.headers.items():
            cmd += ["-H", f"{key}: {value}"]
        script = _wrk_script(t)
        if script:
            scripts.append(script)
            cmd += ["-s", script]
        running.append(subprocess.Popen([*cmd, t.url], stdout=subprocess.PIPE, text=True))
    outs = [p.communicate()[0] for p in running]
    for s in scripts:
        os.unlink(s)
    rps = p50 = p99 = 0.0
    errors = 0
    for out in outs:
        rps += float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 += _parse_wrk_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
        p99 = max(p99, _parse_wrk_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)))  # type: ignore[union-attr]
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors += int(non2xx.group(1)) if non2xx else 0
    return LoadResult(rps, p50 / len(outs), p99, errors, "wrk")


@dataclass
class Phase:
    """One timed phase of the run and the calls it made."""

    name: str
    seconds: float
    calls: list[Call]

    @property
    def rps(self) -> float:
        return len(self.calls) / self.seconds if self.seconds else float("nan")


class Phases:
    """Times phases and collects their calls from the recorder."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.done: list[Phase] = []

    @contextlib.asynccontextmanager
    async def phase(self, name: str):  # type: ignore[no-untyped-def]
        self.recorder.phase = name
        first = len(self.recorder.calls)
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.done.append(Phase(name, elapsed, self.recorder.calls[first:]))


def work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="studyhall-bench-system-"))
