"""Admin pages of curriculum sources: the portals whose index pages are crawled for PDFs, a
crawl started by hand, each source's runs and the PDFs they found (one queued for the library
with a button). The knowledge service does the work, as for the API's routes."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from studyhall.core.errors import AppError
from studyhall.identity.models import Role
from studyhall.knowledge import service as knowledge
from studyhall.knowledge.schemas import ReferenceOut, SourceCreate, SourceOut, SyncRunOut
from studyhall.web.forms import form_data, validate
from studyhall.web.pages.common import (
    FRESH,
    REFUSED,
    Ctx,
    Form,
    form_page,
    refused,
    shown,
    shown_again,
)
from studyhall.web.render import redirect
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False)
SHOWN = 50


async def _sources_page(
    ctx: WebContext,
    *,
    form: Form = FRESH,
) -> Response:
    async with ctx.db.session(write=False) as session:
        rows, total = await knowledge.list_sources(session, limit=SHOWN, offset=0)
    return form_page(
        ctx,
        "admin/sources.html",
        form,
        sources=[SourceOut.model_validate(r) for r in rows],
        total=total,
        values={},
    )


@router.get("/admin/sources")
async def sources(ctx: Ctx) -> Response:
    ctx.require(Role.admin)
    return await _sources_page(ctx)


@router.post("/admin/sources")
async def create_source(ctx: Ctx, request: Request) -> Response:
    admin = ctx.require(Role.admin)
    data = await form_data(request)
    fields: dict[str, Any] = {
        "name": data.get("name", "").strip(),
        "url": data.get("url", "").strip(),
    }
    for name in ("level", "subject", "language"):
        if data.get(name, "").strip():
            fields[name] = data[name].strip()
    depth = data.get("max_depth", "").strip()
    if depth:
        # Not a whole number: -1, which the schema's own minimum refuses with its message.
        fields["max_depth"] = int(depth) if depth.isdigit() else -1
    try:
        body = validate(SourceCreate, fields)
        async with ctx.db.session() as session:
            source = await knowledge.create_source(session, actor=admin, data=body)
    except REFUSED as exc:
        return await shown_again(ctx, exc, partial(_sources_page, ctx), values=data)
    return redirect(ctx, f"/admin/sources/{source.id}")


async def _source_page(
    ctx: WebContext,
    source_id: uuid.UUID,
    *,
    form: Form = FRESH,
) -> Response:
    async with ctx.db.session(write=False) as session:
        source = await knowledge.get_source(session, source_id=source_id)
        runs, _ = await knowledge.list_runs(session, source_id=source.id, limit=SHOWN, offset=0)
        found, total = await knowledge.list_references(
            session, source_id=source.id, status=None, limit=SHOWN, offset=0
        )
    return form_page(
        ctx,
        "admin/source.html",
        form,
        source=SourceOut.model_validate(source),
        runs=[SyncRunOut.model_validate(r) for r in runs],
        references=[ReferenceOut.model_validate(r) for r in found],
        total=total,
    )


@router.get("/admin/sources/{source_id}")
async def source(ctx: Ctx, source_id: uuid.UUID) -> Response:
    ctx.require(Role.admin)
    return await shown(ctx, _source_page(ctx, source_id))


@router.post("/admin/sources/{source_id}/sync")
async def sync(ctx: Ctx, source_id: uuid.UUID) -> Response:
    """Queue a crawl now (the service refuses a second while one is pending)."""
    admin = ctx.require(Role.admin)
    try:
        async with ctx.db.session() as session:
            found = await knowledge.get_source(session, source_id=source_id)
            await knowledge.start_sync(session, actor=admin, source=found)
    except AppError as exc:
        return await shown_again(ctx, exc, partial(_source_page, ctx, source_id))
    return redirect(ctx, f"/admin/sources/{source_id}")


@router.post("/admin/references/{reference_id}/ingest")
async def ingest(ctx: Ctx, reference_id: uuid.UUID) -> Response:
    """Queue a discovered PDF's download into the library, then its ingestion."""
    admin = ctx.require(Role.admin)
    try:
        async with ctx.db.session() as session:
            reference, _ = await knowledge.queue_reference(
                session, actor=admin, reference_id=reference_id
            )
            source_id = reference.source_id
    except AppError as exc:
        return refused(ctx, exc)
    return redirect(ctx, f"/admin/sources/{source_id}#references")
