"""Finding 10 (issue 11): a worker sent SIGTERM exits within its shutdown timeout.

The attack saw a worker give its job back on SIGTERM and keep running: the cancelled job's
thread (here an SMTP dialogue with a server that never answers) was still joined at exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.identity.service import SEND_EMAIL_JOB
from studyhall.jobs import repository as jobs_repository
from studyhall.jobs.models import JobStatus
from studyhall.jobs.service import enqueue

STUDYHALL = str(Path(sys.executable).parent / "studyhall")
SHUTDOWN_TIMEOUT_S = 3


class Tarpit:
    """A TCP server that accepts connections and never says a word (an SMTP server stuck)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connected = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)
            self.connected.set()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.server.close()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    pit = Tarpit()
    yield pit
    pit.close()


async def test_finding_10_worker_exits_within_its_shutdown_timeout_after_sigterm(
    settings: Settings, db: Database, tarpit: Tarpit
) -> None:
    async with db.session() as session:
        job = await enqueue(
            session,
            kind=SEND_EMAIL_JOB,
            payload={
                "template": "email_changed",
                "to": "old@example.org",
                "full_name": "Ada",
                "new_email": "new@example.org",
            },
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDYHALL_")}
    env.update(
        STUDYHALL_DATABASE_URL=str(settings.database_url),
        STUDYHALL_SECRET_KEY=settings.jwt_secret,
        STUDYHALL_DATA_DIR=str(settings.data_dir),
        STUDYHALL_LOG_LEVEL="WARNING",
        STUDYHALL_JOBS__POLL_INTERVAL_S="0.2",
        STUDYHALL_SMTP__HOST="127.0.0.1",
        STUDYHALL_SMTP__PORT=str(tarpit.port),
        STUDYHALL_SMTP__STARTTLS="false",
        STUDYHALL_SMTP__TIMEOUT_S="600",
    )
    worker = subprocess.Popen(
        [STUDYHALL, "worker", "--concurrency", "1", "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_S)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The job is running: its thread waits on the silent SMTP server.
        assert tarpit.connected.wait(120), "the worker never started the job"
        worker.send_signal(signal.SIGTERM)
        # Before the fix the process stayed until the SMTP timeout (600 s) ran out.
        worker.wait(timeout=SHUTDOWN_TIMEOUT_S + 10)
    finally:
        if worker.poll() is None:
            worker.kill()
        output = worker.communicate()[0]
    assert worker.returncode is not None, output
    async with db.session(write=False) as session:
        row = await jobs_repository.get(session, job.id)
    assert row is not None
    # The job went back to the queue for another worker, not lost with the process.
    assert row.status == JobStatus.queued, (row.status, row.error, output)
    assert row.locked_by is None
