"""Admin pages of curriculum sources: the portals whose index pages are crawled for PDFs, a
crawl started by hand, each source's runs and the PDFs they found (one queued for the library
with a button). The knowledge service does the work, as for the API's routes."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from studyhall.knowledge import service as knowledge
from studyhall.knowledge.schemas import ReferenceOut, SourceCreate, SourceOut, SyncRunOut
from studyhall.web.forms import validate
from studyhall.web.pages.answers import FRESH, Form, form_page, shown, submitted
from studyhall.web.pages.common import ADMINS_ONLY, Admin, Ctx, Posted, first_rows
from studyhall.web.session import WebContext

router = APIRouter(include_in_schema=False, dependencies=[ADMINS_ONLY])
SHOWN = 50


async def _sources_page(
    ctx: WebContext,
    *,
    form: Form = FRESH,
) -> Response:
    found, total = await first_rows(ctx, knowledge.list_sources, SourceOut, SHOWN)
    return form_page(ctx, "admin/sources.html", form, sources=found, total=total, values={})


@router.get("/admin/sources")
async def sources(ctx: Ctx) -> Response:
    return await _sources_page(ctx)


@router.post("/admin/sources")
async def create_source(ctx: Ctx, admin: Admin, data: Posted) -> Response:
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

    async def create(session: AsyncSession) -> str:
        body = validate(SourceCreate, fields)
        source = await knowledge.create_source(session, actor=admin, data=body)
        return f"/admin/sources/{source.id}"

    return await submitted(ctx, create, again=partial(_sources_page, ctx), values=data)


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
    return await shown(ctx, _source_page(ctx, source_id))


@router.post("/admin/sources/{source_id}/sync")
async def sync(ctx: Ctx, source_id: uuid.UUID, admin: Admin) -> Response:
    """Queue a crawl now (the service refuses a second while one is pending)."""

    async def start(session: AsyncSession) -> str:
        found = await knowledge.get_source(session, source_id=source_id)
        await knowledge.start_sync(session, actor=admin, source=found)
        return f"/admin/sources/{source_id}"

    return await submitted(ctx, start, again=partial(_source_page, ctx, source_id))


@router.post("/admin/references/{reference_id}/ingest")
async def ingest(ctx: Ctx, reference_id: uuid.UUID, admin: Admin) -> Response:
    """Queue a discovered PDF's download into the library, then its ingestion."""

    async def queue(session: AsyncSession) -> str:
        reference, _ = await knowledge.queue_reference(
            session, actor=admin, reference_id=reference_id
        )
        return f"/admin/sources/{reference.source_id}#references"

    return await submitted(ctx, queue)
