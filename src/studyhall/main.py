"""create_app(): the FastAPI application with its middleware, routers and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from studyhall import __version__
from studyhall.api import api_router, system_router
from studyhall.compat import mount_dialects
from studyhall.config import Settings, get_settings
from studyhall.core.db import Database
from studyhall.core.errors import install_error_handlers
from studyhall.core.logging import configure_logging
from studyhall.core.middleware import RequestMiddleware
from studyhall.core.openapi import install_openapi
from studyhall.core.ratelimit import RateLimiter
from studyhall.core.storage import LocalStorage
from studyhall.jobs.worker import Worker
from studyhall.tutor.providers.factory import aclose_provider
from studyhall.video.hosts import UPLOADS_PATH
from studyhall.web.app import install_web
from studyhall.wiring import wire
from studyhall.workspaces.proxy import aclose_proxy, install_proxy


def create_app(settings: Settings | None = None, *, run_worker: bool | None = None) -> FastAPI:
    """Build the app; the embedded default also runs a job worker inside the process."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    start_worker = settings.jobs.in_process_worker if run_worker is None else run_worker
    # Job kinds and deletion reactions: the api enqueues and deletes, so it needs them even
    # without an in-process worker.
    wire()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker: Worker | None = None
        if start_worker:
            worker = Worker(app.state.db, settings, app.state.storage, name="in-process")
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await aclose_provider(app)
            await aclose_proxy(app)
            await app.state.db.dispose()

    app = FastAPI(
        title="StudyHall",
        version=__version__,
        description="Courses, quizzes, assignments and a grounded, cited, budgeted AI tutor.",
        lifespan=lifespan,
        # Served by the web package from packaged files, so they work without internet.
        docs_url=None,
        redoc_url=None,
    )
    assert settings.database_url is not None
    app.state.settings = settings
    app.state.db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        echo=settings.db_echo,
        timeout_s=settings.db_timeout_s,
    )
    app.state.limiter = RateLimiter(settings.redis_url)
    app.state.storage = LocalStorage(settings.data_dir / "files")
    app.state.streamed_body_paths = (f"{UPLOADS_PATH}/",)

    install_error_handlers(app)
    install_openapi(app)
    app.include_router(system_router)
    app.include_router(api_router)
    mount_dialects(app, settings)
    install_proxy(app)
    install_web(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            # tus clients in browsers read these (resumable video uploads).
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "Location",
                "Tus-Resumable",
                "Tus-Version",
                "Tus-Extension",
                "Tus-Max-Size",
                "Upload-Offset",
                "Upload-Length",
                "Upload-Expires",
                "Upload-Metadata",
            ],
        )
    app.add_middleware(RequestMiddleware)
    return app
