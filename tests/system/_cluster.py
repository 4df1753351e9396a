"""StudyHall as several real processes, for the multi-process system test and bench/system_load.py.

- `Cluster`: api replicas (`studyhall serve --port P`) and job workers (`studyhall worker`) started
  from the CLI as an operator would, sharing one database, one Redis, one secret and one data
  directory (the shared file storage); logs go to files, shown when something fails.
- `EmbeddingServer`: the OpenAI-compatible embeddings peer with an adjustable pause per request
  (a worker can be caught in the middle of an ingestion).
- `Replicas`: an HTTP client that alternates between the api replicas and records every answer
  (`Recorder`: replica, endpoint family, status, latency, phase).
- The scenario (`bootstrap`, `onboard_students`, `upload_documents`, `fund_and_spend`, `chat`, …).
- `SystemDB`: the end checks, read straight from the database with SQL (jobs, wallets and their
  ledger, reservations, chunks), and `metrics_problems` for each process's /metrics.
- `PrivatePostgres`: a throw-away PostgreSQL server (same binaries as the machine's) that a fault
  test may stop and start without disturbing anyone else using the machine's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ROOT = Path(__file__).resolve().parents[2]
STUDYHALL = str(Path(sys.executable).parent / "studyhall")
SECRET = "system-test-secret-key-0123456789-abcdefghij"
PASSWORD = "Correct-Horse-Battery-42"
ADMIN_EMAIL = "admin@system-test.example.org"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plain_url(url: str) -> str:
    """postgresql+asyncpg://… → postgresql://… (what an operator writes in the environment)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# ---------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """One StudyHall process started from the CLI."""

    name: str
    kind: str  # "api" | "worker"
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def base_url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            content = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(content[-lines:])


class Cluster:
    """api replicas and workers of one StudyHall installation, all started from the CLI."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str | None,
        workdir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.logs = workdir / "logs"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("STUDYHALL_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        self.env: dict[str, str] = {
            **base,
            "STUDYHALL_ENVIRONMENT": "development",
            "STUDYHALL_DATABASE_URL": plain_url(database_url),
            "STUDYHALL_DATA_DIR": str(self.data_dir),
            "STUDYHALL_SECRET_KEY": SECRET,
            "STUDYHALL_LOG_LEVEL": "WARNING",
            "STUDYHALL_LOG_JSON": "true",
            "STUDYHALL_JOBS__IN_PROCESS_WORKER": "false",
            # Every collection searched through its approximate-search graph, which each api
            # process keeps in memory and saves in the shared DATA_DIR: uploads through one
            # replica must still be found through the other at once.
            "STUDYHALL_KNOWLEDGE__ANN_MIN_CHUNKS": "1",
            **({"STUDYHALL_REDIS_URL": redis_url} if redis_url else {}),
            **(env or {}),
        }
        self.procs: list[Proc] = []
        self._counter = Counter[str]()

    # -- starting and stopping

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a one-shot `studyhall` command (migrate, create-admin, …) with the cluster's env."""
        return subprocess.run(
            [STUDYHALL, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def _spawn(self, name: str, kind: str, args: list[str], port: int | None) -> Proc:
        self._counter[name] += 1
        log_path = self.logs / f"{name}.{self._counter[name]}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            [STUDYHALL, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a signal to the test's process group does not reach it
        )
        log.close()
        proc = Proc(name, kind, popen, log_path, port)
        self.procs.append(proc)
        return proc

    def start_api(self, name: str, port: int | None = None, *, wait: bool = True) -> Proc:
        """`studyhall serve --port P` (one uvicorn process); waits for /health/ready."""
        port = port or free_port()
        proc = self._spawn(name, "api", ["serve", "--port", str(port)], port)
        if wait:
            self.wait_ready(proc)
        return proc

    def start_worker(self, name: str, *, concurrency: int = 2, wait: bool = True) -> Proc:
        """`studyhall worker`; waits until it says it runs."""
        proc = self._spawn(name, "worker", ["worker", "--concurrency", str(concurrency)], None)
        if wait:
            self.wait_worker(proc)
        return proc

    def wait_worker(self, proc: Proc) -> None:
        """Until a worker process says it runs."""
        name = proc.name
        deadline = time.monotonic() + 60
        while "running" not in proc.log_path.read_text(errors="replace"):
            if not proc.alive():
                raise RuntimeError(f"{name} exited at start-up:\n{proc.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{proc.tail()}")
            time.sleep(0.05)

    def wait_ready(self, proc: Proc, timeout: float = 60) -> None:
        """Until the api answers /health/ready with 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited at start-up:\n{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(proc.base_url + "/health/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} not ready after {timeout}s:\n{proc.tail()}")

    def kill(self, proc: Proc, sig: int = signal.SIGKILL) -> None:
        """Send a signal and wait for the process to end."""
        with contextlib.suppress(ProcessLookupError):
            proc.popen.send_signal(sig)
        try:
            proc.popen.wait(20)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait(10)

    def restart_api(self, proc: Proc) -> Proc:
        """A new api process on the same port (after the old one died)."""
        if proc.alive():
            self.kill(proc, signal.SIGTERM)
        return self.start_api(proc.name, proc.port)

    def live(self, kind: str) -> list[Proc]:
        return [p for p in self.procs if p.kind == kind and p.alive()]

    def stop(self) -> None:
        """SIGTERM everything still running (SIGKILL after a grace period)."""
        running = [p for p in self.procs if p.alive()]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.popen.terminate()
        deadline = time.monotonic() + 20
        for proc in running:
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(10)

    def diagnostics(self, lines: int = 25) -> str:
        """The end of every process's log (for assertion messages)."""
        parts = []
        for proc in self.procs:
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"--- {proc.name} pid {proc.pid} ({state})\n{proc.tail(lines)}")
        return "\n".join(parts)


# ---------------------------------------------------------------------------- embeddings


class EmbeddingServer:
    """The OpenAI-compatible embeddings peer (tests/peers/openai_embeddings.py) in a thread, with
    an adjustable pause per request: with it a test can catch a worker in the middle of an
    ingestion. Deterministic vectors, so search ranks by the lexical side (unique marker words)."""

    def __init__(self, dimension: int = 32) -> None:
        from tests.peers.openai_embeddings import EmbeddingsPeer, _handler

        self.peer = EmbeddingsPeer(dimension=dimension)
        self.delay_s = 0.0
        self.calls = 0
        server = self

        class Handler(_handler(self.peer)):  # type: ignore[misc]
            def do_POST(self) -> None:
                server.calls += 1
                if server.delay_s:
                    time.sleep(server.delay_s)
                super().do_POST()

        import threading
        from http.server import ThreadingHTTPServer

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._http.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> EmbeddingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def env(self) -> dict[str, str]:
        """Settings that point StudyHall's embeddings at this server."""
        return {
            "STUDYHALL_EMBEDDINGS__PROVIDER": "openai",
            "STUDYHALL_EMBEDDINGS__MODEL": "peer-embedding",
            "STUDYHALL_EMBEDDINGS__BASE_URL": self.base_url,
            "STUDYHALL_EMBEDDINGS__DIMENSION": str(self.peer.dimension),
            "STUDYHALL_EMBEDDINGS__BATCH_SIZE": "8",
        }


# ---------------------------------------------------------------------------- HTTP


@dataclass
class Call:
    replica: int
    family: str
    method: str
    path: str
    status: int
    seconds: float
    phase: str
    detail: str = ""


@dataclass
class Recorder:
    """Every answer the system gave, tagged with the phase of the run it belongs to."""

    calls: list[Call] = field(default_factory=list)
    phase: str = "run"

    def server_errors(self, *, phases: Sequence[str] | None = None) -> list[Call]:
        return [c for c in self.calls if c.status >= 500 and (phases is None or c.phase in phases)]


class Replicas:
    """Clients for every api replica; requests alternate between them unless one is named."""

    def __init__(
        self,
        base_urls: list[str],
        recorder: Recorder,
        *,
        timeout: float = 60,
        keepalive: bool = True,
    ) -> None:
        self.base_urls = list(base_urls)
        self.recorder = recorder
        self.timeout = timeout
        self.keepalive = keepalive
        self.clients = [self._client(u) for u in self.base_urls]
        self._next = 0

    def _client(self, base_url: str) -> httpx.AsyncClient:
        # uvicorn closes a connection idle for 5 s; httpx would keep it for 5 s too, so a
        # request could be sent on a connection the server is closing at that very moment
        # (a read error). Idle connections are dropped on our side well before.
        return httpx.AsyncClient(
            base_url=base_url,
            timeout=self.timeout,
            limits=httpx.Limits(
                max_connections=200,
                max_keepalive_connections=100 if self.keepalive else 0,
                keepalive_expiry=2.0,
            ),
        )

    async def reset(self, index: int) -> None:
        """Drop a replica's pooled connections (after its process was replaced)."""
        await self.clients[index].aclose()
        self.clients[index] = self._client(self.base_urls[index])

    async def aclose(self) -> None:
        for c in self.clients:
            await c.aclose()

    def pick(self, replica: int | None) -> int:
        if replica is not None:
            return replica % len(self.clients)
        self._next += 1
        return self._next % len(self.clients)

    async def request(
        self,
        method: str,
        path: str,
        *,
        family: str,
        replica: int | None = None,
        token: str | None = None,
        ip: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request (recorded); `ip` is the client address the replica believes (trusted
        X-Forwarded-For from 127.0.0.1, as behind the reverse proxy)."""
        index = self.pick(replica)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if ip:
            h["X-Forwarded-For"] = ip
        start = time.perf_counter()
        response = await self.clients[index].request(method, path, headers=h, **kwargs)
        elapsed = time.perf_counter() - start
        detail = ""
        if response.status_code >= 400 and not response.headers.get("content-type", "").startswith(
            "text/event-stream"
        ):
            detail = response.text[:300]
        self.recorder.calls.append(
            Call(
                index,
                family,
                method,
                path,
                response.status_code,
                elapsed,
                self.recorder.phase,
                detail,
            )
        )
        return response

    async def stream_chat(
        self,
        path: str,
        body: dict[str, Any],
        *,
        token: str,
        replica: int | None = None,
        on_delta: Any = None,
    ) -> tuple[int, list[tuple[str, Any]]]:
        """POST with Accept: text/event-stream; returns the status and the (event, data) list."""
        index = self.pick(replica)
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        events: list[tuple[str, Any]] = []
        start = time.perf_counter()
        status = 0
        async with self.clients[index].stream("POST", path, json=body, headers=headers) as resp:
            status = resp.status_code
            if status != 200:
                await resp.aread()
                events.append(("http_error", resp.text[:300]))
            else:
                event = "message"
                async for line in resp.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        raw = line[5:].strip()
                        try:
                            data: Any = json.loads(raw)
                        except ValueError:
                            data = raw
                        events.append((event, data))
                        if on_delta is not None and event == "delta":
                            await on_delta(len(events))
                    elif not line:
                        event = "message"
        self.recorder.calls.append(
            Call(
                index,
                "tutor",
                "POST",
                path,
                status,
                time.perf_counter() - start,
                self.recorder.phase,
            )
        )
        return status, events


def expect(response: httpx.Response, *statuses: int) -> Any:
    """The JSON body of an answer with one of the expected statuses (else a clear failure)."""
    if response.status_code not in statuses:
        raise AssertionError(
            f"{response.request.method} {response.request.url.path} → {response.status_code} "
            f"(expected {statuses}): {response.text[:500]}"
        )
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


# ---------------------------------------------------------------------------- scenario


@dataclass
class Account:
    email: str
    ip: str
    password: str = PASSWORD
    id: str = ""
    token: str = ""


@dataclass
class World:
    """What the scenario created."""

    admin: Account
    teacher: Account
    course_id: str
    students: list[Account] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    chats: int = 0
    answers: int = 0


class AddressPlan:
    """Distinct client addresses for this run (rate limits are per IP and live in Redis, so runs
    must not share addresses)."""

    def __init__(self) -> None:
        self._a = random.randrange(1, 255)
        self._b = random.randrange(0, 200)
        self._i = 0

    def next(self) -> str:
        self._i += 1
        return f"10.{self._a}.{self._b + self._i // 250}.{self._i % 250 + 1}"


async def login(api: Replicas, account: Account, *, replica: int | None = None) -> None:
    """POST /auth/login; keeps the access token."""
    body = expect(
        await api.request(
            "POST",
            "/api/v1/auth/login",
            family="auth",
            replica=replica,
            ip=account.ip,
            json={"email": account.email, "password": account.password},
        ),
        200,
    )
    account.token = body["access_token"]
    account.id = body["user"]["id"]


async def bootstrap(api: Replicas, cluster: Cluster, addresses: AddressPlan, tag: str) -> World:
    """Admin (from the CLI), a teacher (created by the admin), a published course."""
    created = cluster.cli("create-admin", "--email", ADMIN_EMAIL, "--password", PASSWORD)
    assert created.returncode == 0, created.stderr
    admin = Account(ADMIN_EMAIL, addresses.next())
    await login(api, admin, replica=0)
    teacher = Account(f"teacher-{tag}@system-test.example.org", addresses.next())
    expect(
        await api.request(
            "POST",
            "/api/v1/admin/users",
            family="admin",
            token=admin.token,
            json={
                "email": teacher.email,
                "password": teacher.password,
                "full_name": "System Teacher",
                "role": "teacher",
            },
        ),
        201,
    )
    await login(api, teacher, replica=1)
    course = expect(
        await api.request(
            "POST",
            "/api/v1/courses",
            family="courses",
            token=teacher.token,
            json={
                "code": f"SYS{tag[:8].upper()}",
                "title": "Plant biology (system test)",
                "description": "Photosynthesis, respiration and the carbon cycle.",
                "guide": "Answer from the course documents and cite them.",
            },
        ),
        201,
    )
    expect(
        await api.request(
            "PATCH",
            f"/api/v1/courses/{course['id']}",
            family="courses",
            token=teacher.token,
            json={"is_published": True},
        ),
        200,
    )
    return World(admin=admin, teacher=teacher, course_id=course["id"])


async def gather_limited(limit: int, coros: Sequence[Any]) -> list[Any]:
    """Run coroutines with at most `limit` at once; the first failure propagates."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def onboard_students(
    api: Replicas, world: World, addresses: AddressPlan, n: int, *, concurrency: int = 16
) -> None:
    """n students register, log in (through the other replica), enroll and look at their wallet."""
    tag = uuid.uuid4().hex[:6]

    async def one(i: int) -> Account:
        account = Account(f"student-{tag}-{i}@system-test.example.org", addresses.next())
        expect(
            await api.request(
                "POST",
                "/api/v1/auth/register",
                family="auth",
                replica=i,
                ip=account.ip,
                json={
                    "email": account.email,
                    "password": account.password,
                    "full_name": f"Student {i}",
                },
            ),
            201,
        )
        await login(api, account, replica=i + 1)
        expect(
            await api.request(
                "POST",
                f"/api/v1/courses/{world.course_id}/enroll",
                family="courses",
                replica=i,
                token=account.token,
            ),
            201,
        )
        expect(
            await api.request(
                "GET", "/api/v1/wallet", family="wallet", replica=i + 1, token=account.token
            ),
            200,
        )
        return account

    world.students.extend(await gather_limited(concurrency, [one(i) for i in range(n)]))


# Words that make each generated document findable by a search through any replica.
TOPICS = [
    (
        "Photosynthesis",
        "chlorophyll captures light and turns carbon dioxide and water into glucose",
    ),
    ("Respiration", "mitochondria release the energy stored in glucose as ATP"),
    ("Carbon cycle", "carbon moves between the atmosphere, oceans, soil and living things"),
    ("Transpiration", "water evaporates from leaves through stomata and pulls water up the xylem"),
    ("Nitrogen fixation", "bacteria in root nodules turn atmospheric nitrogen into ammonia"),
]


def document_text(index: int, marker: str, paragraphs: int = 6) -> str:
    """Markdown about one topic, with a unique marker word."""
    title, fact = TOPICS[index % len(TOPICS)]
    lines = [f"# {title} ({marker})", ""]
    for p in range(paragraphs):
        lines.append(f"## {title}, part {p + 1}")
        lines.append("")
        lines.append(
            f"In plants, {fact}. The marker {marker} identifies this document. "
            f"Paragraph {p + 1} explains it with an example about leaves, roots and sunlight, "
            "and reminds the reader that energy is conserved in every step of the process."
        )
        lines.append("")
    return "\n".join(lines)


def make_documents(count: int, tag: str) -> list[tuple[str, bytes, str]]:
    """(filename, content, marker): markdown, plain text and PDF files in turn."""
    from tests.knowledge.pdfgen import text_pdf

    out: list[tuple[str, bytes, str]] = []
    for i in range(count):
        marker = f"zq{tag}{i}x"
        body = document_text(i, marker)
        kind = i % 3
        if kind == 0:
            out.append((f"notes-{i}.md", body.encode(), marker))
        elif kind == 1:
            out.append((f"notes-{i}.txt", body.replace("#", "").encode(), marker))
        else:
            pages = [
                "\n".join(body.splitlines()[j : j + 12]).replace("#", "")
                for j in range(0, len(body.splitlines()), 12)
            ]
            out.append((f"notes-{i}.pdf", text_pdf(pages, title=f"Notes {i}"), marker))
    return out


def big_document(marker: str, chunks: int) -> bytes:
    """A markdown file of about `chunks` chunks (for a worker to be killed in the middle of it)."""
    sections = []
    for s in range(chunks):
        title, fact = TOPICS[s % len(TOPICS)]
        sentences = " ".join(
            f"Sentence {k} of section {s}: {fact}, as the {marker} notes explain." for k in range(9)
        )
        sections.append(f"## {title} {s}\n\n{sentences}\n")
    return f"# Big reader {marker}\n\n".encode() + "\n".join(sections).encode()


async def upload(
    api: Replicas,
    world: World,
    filename: str,
    content: bytes,
    *,
    replica: int | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The teacher uploads one file; returns the 202 body {document, job}."""
    body = expect(
        await api.request(
            "POST",
            f"/api/v1/courses/{world.course_id}/documents",
            family="upload",
            replica=replica,
            token=world.teacher.token,
            files={"file": (filename, content)},
            data={"title": title or filename},
        ),
        202,
    )
    world.documents.append(body)
    return body  # type: ignore[no-any-return]


async def upload_documents(
    api: Replicas, world: World, documents: list[tuple[str, bytes, str]]
) -> list[dict[str, Any]]:
    """Upload every document, alternating replicas, a few at a time."""
    return await gather_limited(
        4,
        [upload(api, world, name, data, replica=i) for i, (name, data, _) in enumerate(documents)],
    )


async def search(
    api: Replicas, account: Account, course_id: str, query: str, *, replica: int | None = None
) -> list[dict[str, Any]]:
    """POST /courses/{id}/search."""
    return expect(  # type: ignore[no-any-return]
        await api.request(
            "POST",
            f"/api/v1/courses/{course_id}/search",
            family="search",
            replica=replica,
            token=account.token,
            json={"query": query, "k": 5},
        ),
        200,
    )


async def search_all(
    api: Replicas, world: World, markers: list[str], *, concurrency: int = 16
) -> None:
    """Every student searches for one document's marker; the document must come first."""

    async def one(i: int, student: Account) -> None:
        marker = markers[i % len(markers)]
        hits = await search(api, student, world.course_id, f"{marker} plants", replica=i)
        assert hits, f"no hit for {marker}"
        assert any(marker in h["text"] for h in hits[:2]), (marker, hits[:2])

    await gather_limited(concurrency, [one(i, s) for i, s in enumerate(world.students)])


async def fund_and_spend(
    api: Replicas, world: World, *, amount: int = 50_000, spend: int = 700, concurrency: int = 16
) -> None:
    """The admin tops up every wallet, then each student spends: a hold of `spend` tokens
    finalized at a part of it (the rest released), with idempotency keys replayed once."""

    async def one(i: int, student: Account) -> None:
        key = f"topup-{student.id}"
        for attempt in range(2):  # the retry must replay, not credit twice
            expect(
                await api.request(
                    "POST",
                    f"/api/v1/admin/wallets/{student.id}/topup",
                    family="wallet",
                    replica=i + attempt,
                    token=world.admin.token,
                    headers={"Idempotency-Key": key},
                    json={"amount": amount, "reason": "system test top-up"},
                ),
                201,
            )
        reservation = expect(
            await api.request(
                "POST",
                f"/api/v1/admin/wallets/{student.id}/reservations",
                family="wallet",
                replica=i,
                token=world.admin.token,
                json={"amount": spend, "purpose": "system test spend"},
            ),
            201,
        )
        for attempt in range(2):
            expect(
                await api.request(
                    "POST",
                    f"/api/v1/admin/reservations/{reservation['id']}/finalize",
                    family="wallet",
                    replica=i + 1 + attempt,
                    token=world.admin.token,
                    headers={"Idempotency-Key": f"finalize-{reservation['id']}"},
                    json={"actual": spend // 2 + i % 7},
                ),
                200,
            )
        wallet = expect(
            await api.request(
                "GET", "/api/v1/wallet", family="wallet", replica=i, token=student.token
            ),
            200,
        )
        assert wallet["reserved"] == 0, wallet

    await gather_limited(concurrency, [one(i, s) for i, s in enumerate(world.students)])


async def open_chat(
    api: Replicas, world: World, student: Account, *, replica: int | None = None
) -> str:
    """POST /chat/sessions in the course; returns the session id."""
    body = expect(
        await api.request(
            "POST",
            "/api/v1/chat/sessions",
            family="tutor",
            replica=replica,
            token=student.token,
            json={"course_id": world.course_id, "title": "Revision"},
        ),
        201,
    )
    world.chats += 1
    return str(body["id"])


async def ask(
    api: Replicas, student: Account, chat_id: str, question: str, *, replica: int | None = None
) -> httpx.Response:
    """POST /chat/sessions/{id}/messages (JSON answer)."""
    return await api.request(
        "POST",
        f"/api/v1/chat/sessions/{chat_id}/messages",
        family="tutor",
        replica=replica,
        token=student.token,
        json={"content": question},
    )


async def chat_all(api: Replicas, world: World, *, concurrency: int = 16) -> None:
    """Every student opens a session and asks one question: half JSON, half streamed (SSE)."""

    async def one(i: int, student: Account) -> None:
        chat_id = await open_chat(api, world, student, replica=i)
        question = "How do plants make glucose from light?"
        if i % 2 == 0:
            message = expect(await ask(api, student, chat_id, question, replica=i + 1), 200)
            assert message["content"], message
            assert message["usage"]["completion_tokens"] > 0, message
        else:
            status, events = await api.stream_chat(
                f"/api/v1/chat/sessions/{chat_id}/messages",
                {"content": question},
                token=student.token,
                replica=i + 1,
            )
            names = [e for e, _ in events]
            assert status == 200 and "done" in names and "error" not in names, events[-3:]
        world.answers += 1

    await gather_limited(concurrency, [one(i, s) for i, s in enumerate(world.students)])


# ---------------------------------------------------------------------------- database checks


class SystemDB:
    """Direct SQL on the cluster's database: what the end checks believe."""

    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(database_url, pool_size=2)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def execute(self, sql: str, **params: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(sql), params)

    async def job_counts(self) -> dict[str, int]:
        return {
            s: n for s, n in await self.rows("SELECT status, count(*) FROM jobs GROUP BY status")
        }

    async def wait_for_jobs(self, timeout: float = 120) -> dict[str, int]:
        """Until no job is queued or running (every job has reached its final state)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = await self.job_counts()
            if not counts.get("queued") and not counts.get("running"):
                return counts
            if time.monotonic() > deadline:
                pending = await self.rows(
                    "SELECT kind, status, attempts, locked_by, run_after, error FROM jobs "
                    "WHERE status IN ('queued', 'running')"
                )
                raise AssertionError(f"jobs still pending after {timeout}s: {pending[:10]}")
            await asyncio.sleep(0.2)

    async def wait_for_job(self, job_id: str, timeout: float = 120) -> Any:
        """Until one job reaches succeeded or failed; returns its row."""
        deadline = time.monotonic() + timeout
        while True:
            row = (
                await self.rows(
                    "SELECT status, attempts, error, locked_by FROM jobs WHERE id = :id",
                    id=uuid.UUID(job_id),
                )
            )[0]
            if row.status in ("succeeded", "failed"):
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} not finished after {timeout}s: {row}")
            await asyncio.sleep(0.05)

    async def job_problems(self) -> list[str]:
        # Failed, or queued again after a failed attempt. (A periodic job enqueued a moment
        # after wait_for_jobs returned is queued without an error, and is not a problem.)
        bad = await self.rows(
            "SELECT id, kind, status, attempts, error FROM jobs "
            "WHERE status = 'failed' OR (status <> 'succeeded' AND error IS NOT NULL)"
        )
        return [
            f"job {r.kind} {r.id} is {r.status} after {r.attempts} attempts: {r.error}" for r in bad
        ]

    async def wallet_problems(self) -> list[str]:
        """balance = Σ balance deltas and reserved = Σ reserved deltas of the ledger; no negative
        figure; reserved = Σ open reservations."""
        rows = await self.rows(
            """
            SELECT w.user_id, w.balance, w.reserved,
                   COALESCE(l.balance, 0) AS ledger_balance,
                   COALESCE(l.reserved, 0) AS ledger_reserved,
                   COALESCE(l.negative_after, 0) AS negative_after,
                   COALESCE(r.open_amount, 0) AS open_amount
            FROM wallets w
            LEFT JOIN (
                SELECT user_id, SUM(balance_delta) AS balance, SUM(reserved_delta) AS reserved,
                       SUM(CASE WHEN balance_after < 0 OR reserved_after < 0
                                  OR reserved_after > balance_after THEN 1 ELSE 0 END)
                           AS negative_after
                FROM ledger_entries GROUP BY user_id
            ) l ON l.user_id = w.user_id
            LEFT JOIN (
                SELECT user_id, SUM(amount) AS open_amount FROM reservations
                WHERE status = 'reserved' GROUP BY user_id
            ) r ON r.user_id = w.user_id
            """
        )
        problems = []
        for r in rows:
            if r.balance != r.ledger_balance:
                problems.append(
                    f"wallet {r.user_id}: balance {r.balance} != Σ ledger {r.ledger_balance}"
                )
            if r.reserved != r.ledger_reserved:
                problems.append(
                    f"wallet {r.user_id}: reserved {r.reserved} != Σ ledger {r.ledger_reserved}"
                )
            if r.balance < 0 or r.reserved < 0 or r.reserved > r.balance or r.negative_after:
                problems.append(
                    f"wallet {r.user_id}: negative figure (balance {r.balance}, reserved "
                    f"{r.reserved}, {r.negative_after} ledger rows below zero)"
                )
            if r.reserved != r.open_amount:
                problems.append(
                    f"wallet {r.user_id}: reserved {r.reserved} != open reservations {r.open_amount}"
                )
        return problems

    async def reservation_problems(self) -> list[str]:
        """Each reservation held once, resolved at most once, charged at most its actual."""
        rows = await self.rows(
            """
            SELECT r.id, r.status, r.amount, r.actual,
                   SUM(CASE WHEN e.type = 'reservation_hold' THEN 1 ELSE 0 END) AS holds,
                   SUM(CASE WHEN e.type = 'usage' THEN e.amount ELSE 0 END) AS charged,
                   SUM(CASE WHEN e.type = 'usage' THEN 1 ELSE 0 END) AS usages,
                   SUM(CASE WHEN e.type IN ('release', 'expiry') THEN 1 ELSE 0 END) AS releases,
                   COALESCE(SUM(e.reserved_delta), 0) AS held_now
            FROM reservations r LEFT JOIN ledger_entries e ON e.reservation_id = r.id
            GROUP BY r.id, r.status, r.amount, r.actual
            """
        )
        problems = []
        for r in rows:
            where = f"reservation {r.id} ({r.status})"
            if r.holds != 1:
                problems.append(f"{where}: {r.holds} hold entries")
            if r.usages > 1 or r.releases > 1:
                problems.append(f"{where}: {r.usages} usage and {r.releases} release entries")
            if r.status == "reserved" and r.held_now != r.amount:
                problems.append(f"{where}: holds {r.held_now} of {r.amount}")
            if r.status != "reserved" and r.held_now != 0:
                problems.append(f"{where}: resolved but still holds {r.held_now}")
            if r.status == "finalized" and r.charged != (r.actual or 0):
                problems.append(f"{where}: charged {r.charged}, actual {r.actual}")
            if r.status in ("released", "expired") and r.charged:
                problems.append(f"{where}: charged {r.charged} although not finalized")
        return problems

    async def chunk_problems(self) -> list[str]:
        """No chunk stored twice; every ready document holds exactly its chunk_count chunks."""
        problems = [
            f"document {r.document_id}: position {r.position} stored {r.n} times"
            for r in await self.rows(
                "SELECT document_id, position, count(*) AS n FROM knowledge_chunks "
                "GROUP BY document_id, position HAVING count(*) > 1"
            )
        ]
        for r in await self.rows(
            """
            SELECT d.id, d.status, d.chunk_count, count(c.id) AS stored
            FROM knowledge_documents d LEFT JOIN knowledge_chunks c ON c.document_id = d.id
            GROUP BY d.id, d.status, d.chunk_count
            """
        ):
            if r.status != "ready":
                problems.append(f"document {r.id} is {r.status}")
            elif r.chunk_count != r.stored or r.stored == 0:
                problems.append(f"document {r.id}: chunk_count {r.chunk_count}, stored {r.stored}")
        return problems

    async def empty(self) -> None:
        """Delete every row (the harness only empties the database after `app` tests)."""
        from studyhall.models_registry import load_all_models

        tables = list(load_all_models().metadata.sorted_tables)
        async with self.engine.begin() as conn:
            for table in reversed(tables):
                await conn.execute(table.delete())


def metrics_problems(body: str, *, at_least: int, allow_5xx: bool) -> list[str]:
    """A replica's /metrics: parseable, request counters present and non-negative, at least
    `at_least` requests counted, histograms consistent, and no 5xx unless allowed."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = {f.name: f for f in text_string_to_metric_families(body)}
    except Exception as exc:  # an unparseable exposition is the finding
        return [f"/metrics does not parse: {exc}"]
    problems = []
    requests = families.get("studyhall_http_requests")
    if requests is None or not requests.samples:
        return ["no studyhall_http_requests_total samples"]
    total = 0.0
    for sample in requests.samples:
        if not sample.name.endswith("_total"):
            continue
        if sample.value < 0:
            problems.append(f"negative counter {sample}")
        total += sample.value
        if not allow_5xx and sample.labels.get("status", "").startswith("5"):
            problems.append(f"5xx counted: {sample.labels} = {sample.value}")
    if total < at_least:
        problems.append(f"{total} requests counted, at least {at_least} were sent")
    latency = families.get("studyhall_http_request_duration_seconds")
    if latency is None:
        problems.append("no latency histogram")
    else:
        buckets: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for sample in latency.samples:
            if sample.name.endswith("_bucket"):
                key = (sample.labels["method"], sample.labels["route"])
                buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
        for key, values in buckets.items():
            counts = [v for _, v in sorted(values)]
            if counts != sorted(counts) or counts[0] < 0:
                problems.append(f"histogram {key} not cumulative: {counts}")
    if "studyhall_jobs" not in families:
        problems.append("no studyhall_jobs gauge")
    return problems


async def end_checks(
    api: Replicas,
    db: SystemDB,
    *,
    phases: Sequence[str],
    allow_5xx_in_metrics: bool = False,
    job_timeout: float = 120,
) -> list[str]:
    """The same checks after the run and after every fault: no 5xx in the given phases, every
    job succeeded, wallets equal their ledger with nothing negative, reservations resolved once,
    no duplicated chunk, and each replica's /metrics sane."""
    problems = [
        f"{c.status} on {c.method} {c.path} via replica {c.replica} ({c.phase}): {c.detail}"
        for c in api.recorder.server_errors(phases=phases)
    ]
    await db.wait_for_jobs(job_timeout)
    problems += await db.job_problems()
    problems += await db.wallet_problems()
    problems += await db.reservation_problems()
    problems += await db.chunk_problems()
    for index, client in enumerate(api.clients):
        response = await client.get("/metrics")
        if response.status_code != 200:
            problems.append(f"replica {index}: /metrics answered {response.status_code}")
            continue
        problems += [
            f"replica {index}: {p}"
            for p in metrics_problems(response.text, at_least=1, allow_5xx=allow_5xx_in_metrics)
        ]
    return problems


# ---------------------------------------------------------------------------- private PostgreSQL


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    exe = shutil.which("pg_ctl")
    return Path(exe).parent if exe else None


class PrivatePostgres:
    """A PostgreSQL server of its own (initdb in a temp dir, a free port), to stop and start."""

    def __init__(self) -> None:
        bin_dir = _pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries (pg_ctl, initdb) not found")
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="studyhall-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/studyhall"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr}\n{self.tail()}")

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except (FileNotFoundError, PermissionError):
            return ""

    def init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "studyhall"
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private server with an empty `studyhall` database; removed afterwards."""
    server = PrivatePostgres()
    try:
        server.init()
        yield server
    finally:
        server.destroy()


def main() -> None:
    """`python tests/system/_cluster.py embeddings --port P [--dimension D]`: serve the
    embeddings peer in the foreground (benchmarks run it as a separate process)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["embeddings"])
    parser.add_argument("--dimension", type=int, default=32)
    args = parser.parse_args()
    server = EmbeddingServer(dimension=args.dimension).start()
    print(f"ready {server.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
