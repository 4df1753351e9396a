"""The `studyhall` command: serve, worker, migrate, create-admin, demo, ingest."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from studyhall.config import Settings, get_settings

app = typer.Typer(
    help="StudyHall: learning platform backend with a grounded AI tutor.", no_args_is_help=True
)


def _settings() -> Settings:
    return get_settings()


def _wired() -> Settings:
    """The settings, once every domain's job kinds and deletion reactions are registered: what
    a command that runs services needs, as the api and the worker have it."""
    from studyhall.wiring import wire

    wire()
    return _settings()


@app.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade heads)."""
    from studyhall.migrate import upgrade

    settings = _settings()
    assert settings.database_url is not None
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes")] = 1,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load demo users and a demo course first")
    ] = False,
) -> None:
    """Migrate, then serve the API (with an in-process job worker unless disabled)."""
    import uvicorn

    settings = _settings()
    migrate()
    if demo:
        _run_demo()
    if workers > 1:
        # Every process writes its metrics here; /metrics sums them.
        metrics_dir = settings.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    typer.echo(f"StudyHall listening on http://{host}:{port} (docs at /docs)")
    uvicorn.run(
        "studyhall.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        server_header=False,
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once")] = 2,
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="After SIGTERM/SIGINT, exit within this many seconds (running jobs get all "
            "but the last second to finish, then go back to the queue); within the 10 s a "
            "container engine waits before SIGKILL",
        ),
    ] = 8.0,
) -> None:
    """Run a background job worker until SIGTERM/SIGINT."""
    import threading

    import structlog

    from studyhall.core.db import Database
    from studyhall.core.logging import configure_logging
    from studyhall.core.storage import LocalStorage
    from studyhall.jobs.worker import Worker

    settings = _wired()
    configure_logging(settings.log_level, json=settings.log_json)
    assert settings.database_url is not None
    log = structlog.get_logger("studyhall.worker")

    def _exit_now(code: int) -> None:
        # A cancelled job may leave a thread behind (an extraction, an SMTP dialogue): Python
        # would join it at exit, for minutes. The job is back in the queue; end the process.
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)

    def _overdue() -> None:
        log.error("worker_shutdown_timeout", timeout_s=shutdown_timeout)
        _exit_now(1)

    async def _main() -> None:
        db = Database(
            settings.database_url or "",
            pool_size=concurrency + 2,
            timeout_s=settings.db_timeout_s,
        )
        w = Worker(
            db,
            settings,
            LocalStorage(settings.data_dir / "files"),
            name="worker",
            concurrency=concurrency,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await w.start()
        typer.echo(f"worker {w.id} running")
        await stop.wait()
        # From here the process ends within shutdown_timeout, whatever a job does.
        watchdog = threading.Timer(shutdown_timeout, _overdue)
        watchdog.daemon = True
        watchdog.start()
        await w.stop(timeout_s=shutdown_timeout - 1.0)
        await db.dispose()
        if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
            log.warning("worker_exit_leaving_threads")
            _exit_now(0)  # asyncio.run would wait for them at its end

    asyncio.run(_main())


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Admin email")],
    password: Annotated[str, typer.Option(help="Admin password", prompt=True, hide_input=True)],
    full_name: Annotated[str, typer.Option(help="Display name")] = "Administrator",
) -> None:
    """Create an admin account, or promote and reset an existing one."""
    from studyhall.demo import KnownAccount, ensure_user

    settings = _wired()  # services enqueue jobs and run deletion reactions here as in the api
    if len(password) < settings.password_min_length:
        raise typer.BadParameter(
            f"password must have at least {settings.password_min_length} characters"
        )

    async def _main() -> str:
        from studyhall.core.db import Database
        from studyhall.identity.models import Role

        db = Database(settings.database_url or "")
        try:
            async with db.session() as session:
                admin = KnownAccount(email, None, full_name, Role.admin)
                _, created = await ensure_user(session, admin, password=password, reset=True)
                return "created" if created else "updated"
        finally:
            await db.dispose()

    migrate()
    outcome = asyncio.run(_main())
    typer.echo(f"admin {email} {outcome}")


def _run_demo() -> None:
    from studyhall.demo import seed_demo

    lines = asyncio.run(seed_demo(_wired()))
    for line in lines:
        typer.echo(line)


@app.command()
def demo() -> None:
    """Load demo users (admin, teacher, students) and a demo course; safe to run twice."""
    migrate()
    _run_demo()


def _existing_paths(paths: list[Path]) -> list[Path]:
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"not found: {', '.join(map(str, missing))}")
    return paths


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest")],
    course: Annotated[str | None, typer.Option("--course", help="Course code")] = None,
    library: Annotated[bool, typer.Option("--library", help="Add to the shared library")] = False,
    subject: Annotated[str | None, typer.Option(help="Library subject")] = None,
    level: Annotated[str | None, typer.Option(help="Library level (grade)")] = None,
    language: Annotated[str | None, typer.Option(help="Library language")] = None,
) -> None:
    """Add documents to a course or to the shared library, with a progress bar per file."""
    from studyhall.knowledge.ingest_cli import IngestUsageError, ingest_paths

    migrate()
    settings = _wired()
    bars: dict[Path, Any] = {}

    def progress(path: Path, fraction: float, _message: str | None) -> None:
        bar = bars.get(path)
        if bar is None:
            bar = bars[path] = typer.progressbar(length=100, label=path.name).__enter__()
        bar.update(max(0, int(fraction * 100) - bar.pos))
        if fraction >= 1.0:
            bar.render_finish()

    try:
        outcomes = asyncio.run(
            ingest_paths(
                settings,
                _existing_paths(paths),
                course_code=course,
                library=library,
                subject=subject,
                level=level,
                language=language,
                progress=progress,
            )
        )
    except IngestUsageError as exc:
        raise typer.BadParameter(str(exc)) from exc
    for outcome in outcomes:
        detail = f" ({outcome.error})" if outcome.error else ""
        typer.echo(
            f"{outcome.path}: {outcome.status}, {outcome.page_count} pages, "
            f"{outcome.chunk_count} chunks{detail}"
        )
    raise typer.Exit(0 if all(o.status == "ready" for o in outcomes) else 1)


if __name__ == "__main__":
    app()
