"""System endpoints: liveness, readiness, metrics and public service info."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from studyhall import __version__
from studyhall.config import Settings
from studyhall.core.errors import Forbidden
from studyhall.core.metrics import render_metrics
from studyhall.core.security import tokens_equal

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: bool
    redis: bool | None


class SystemInfo(BaseModel):
    version: str
    llm_provider: str
    llm_model: str
    embedding_model: str
    status: Literal["ok"] = "ok"


@router.get("/health")
async def health() -> Health:
    """The process is up."""
    return Health()


@router.get("/health/ready", responses={503: {"model": Readiness}})
async def ready(request: Request) -> Readiness:
    """200 when the database (and Redis, if configured) answer, else 503."""
    database = True
    try:
        async with request.app.state.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not ready", which is the answer
        database = False
    redis: bool | None = None
    if request.app.state.settings.redis_url:
        try:
            redis = await request.app.state.limiter.ready()
        except Exception:  # same: an unreachable Redis is a readiness answer, not a crash
            redis = False
    ok = database and redis is not False
    body = Readiness(status="ok" if ok else "unavailable", database=database, redis=redis)
    if not ok:
        return JSONResponse(body.model_dump(), status_code=503)  # type: ignore[return-value]
    return body


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus exposition; guarded by a bearer token when STUDYHALL_METRICS_TOKEN is set.

    In production it stays off (403) until a token is set."""
    return await metrics_response(request)


async def metrics_response(request: Request) -> Response:
    """The metrics exposition under the metrics settings (also served by the dialects)."""
    settings: Settings = request.app.state.settings
    if not settings.metrics_enabled:
        raise Forbidden("Metrics are disabled")
    if not settings.metrics_served:
        raise Forbidden("Metrics are off in production until STUDYHALL_METRICS_TOKEN is set")
    if settings.metrics_token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not tokens_equal(given, settings.metrics_token):
            raise Forbidden("A metrics token is required")
    await _sample_job_gauges(request)
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)


async def _sample_job_gauges(request: Request) -> None:
    from studyhall.core.metrics import JOBS
    from studyhall.jobs import service as jobs_service

    async with request.app.state.db.session(write=False) as session:
        counts = await jobs_service.count_by_status(session)
    for status, n in counts.items():
        JOBS.labels(status).set(n)


info_router = APIRouter(tags=["system"])


@info_router.get("/system/info")
async def system_info(request: Request) -> SystemInfo:
    """Version and the models in use; never a secret."""
    settings: Settings = request.app.state.settings
    return SystemInfo(
        version=__version__,
        llm_provider=settings.llm.provider,
        llm_model=settings.llm.model,
        embedding_model=settings.embeddings.model,
    )
