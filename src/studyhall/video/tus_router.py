"""StudyHall's tus 1.0 endpoint (core, creation, termination and expiration extensions).

These routes speak the tus protocol (https://tus.io/protocols/resumable-upload) in headers
rather than JSON, so they are left out of the OpenAPI schema on purpose: every route carries
its reason in `openapi_extra["x-unlisted"]`, which the inventory test reads. The upload itself
is created through the schema's `POST /courses/{course_id}/videos` (or tus creation here), and
authenticated like the rest of the API. Every header is checked before the body is read.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status
from starlette.requests import ClientDisconnect

from studyhall.identity.dependencies import DatabaseDep, SettingsDep
from studyhall.video import uploads
from studyhall.video.dependencies import StorageDep, Uploader
from studyhall.video.errors import (
    TUS_VERSION,
    BadTusRequest,
    TusVersionUnsupported,
    WrongUploadContentType,
)
from studyhall.video.hosts import UPLOADS_PATH

EXTENSIONS = "creation,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
_UNLISTED = {
    "x-unlisted": "tus 1.0 protocol endpoint (headers, not JSON): specified by the tus "
    "protocol, tested by tests/video/test_tus_conformance.py with the official client"
}

router = APIRouter(prefix=UPLOADS_PATH.removeprefix("/api/v1"), tags=["videos"])


def _version(tus_resumable: str | None) -> None:
    if tus_resumable != TUS_VERSION:
        raise TusVersionUnsupported()


def _expires(state: uploads.UploadState) -> dict[str, str]:
    if state.expires_at is None:
        return {}
    return {"Upload-Expires": format_datetime(state.expires_at, usegmt=True)}


def _integer(name: str, value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 19:
        raise BadTusRequest(f"{name} must be a non-negative integer")
    return int(value)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs (value optional)."""
    found: dict[str, str] = {}
    if not raw:
        return found
    for pair in raw.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2:
            raise BadTusRequest("Upload-Metadata is malformed")
        try:
            value = base64.b64decode(parts[1], validate=True).decode() if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadTusRequest("Upload-Metadata values must be base64 of UTF-8 text") from None
        found[parts[0]] = value
    return found


def _discovery(settings: SettingsDep) -> Response:
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(settings.video.max_bytes),
        },
    )


@router.options("", include_in_schema=False, openapi_extra=_UNLISTED)
async def discover(settings: SettingsDep) -> Response:
    """tus discovery: version, extensions and the size limit."""
    return _discovery(settings)


@router.options("/{upload_id}", include_in_schema=False, openapi_extra=_UNLISTED)
async def discover_upload(upload_id: uuid.UUID, settings: SettingsDep) -> Response:
    """tus discovery on an upload's URL."""
    return _discovery(settings)


@router.post("", include_in_schema=False, openapi_extra=_UNLISTED)
async def create_upload(
    request: Request,
    user: Uploader,
    db: DatabaseDep,
    settings: SettingsDep,
    storage: StorageDep,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_length: Annotated[str | None, Header()] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
) -> Response:
    """tus creation: `Upload-Metadata` names the `course_id` (and `title` or `filename`)."""
    _version(tus_resumable)
    if request.headers.get("upload-defer-length") is not None:
        raise BadTusRequest("Upload-Defer-Length is not supported: send Upload-Length")
    length = _integer("Upload-Length", upload_length)
    if upload_metadata is not None and len(upload_metadata) > 2000:
        raise BadTusRequest("Upload-Metadata is too long")
    video, state = await uploads.create(
        db,
        settings,
        storage,
        user=user,
        length=length,
        metadata=parse_metadata(upload_metadata),
        raw_metadata=upload_metadata,
    )
    return Response(
        status_code=status.HTTP_201_CREATED,
        headers={
            "Tus-Resumable": TUS_VERSION,
            # Relative: the client resolves it against the URL it created the upload at.
            "Location": f"{UPLOADS_PATH}/{video.id}",
            "Upload-Offset": str(state.offset),
            **_expires(state),
        },
    )


@router.head("/{upload_id}", include_in_schema=False, openapi_extra=_UNLISTED)
async def upload_offset(
    upload_id: uuid.UUID,
    user: Uploader,
    db: DatabaseDep,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """tus HEAD: how many bytes are stored (resume from there)."""
    _version(tus_resumable)
    state = await uploads.head(db, user=user, upload_id=upload_id)
    headers = {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(state.offset),
        "Upload-Length": str(state.length),
        "Cache-Control": "no-store",
        **_expires(state),
    }
    if state.metadata:
        headers["Upload-Metadata"] = state.metadata
    return Response(status_code=status.HTTP_200_OK, headers=headers)


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; a client that goes away just ends it (what arrived
    is kept, and the client resumes from HEAD's offset)."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return


@router.patch("/{upload_id}", include_in_schema=False, openapi_extra=_UNLISTED)
async def upload_bytes(
    request: Request,
    upload_id: uuid.UUID,
    user: Uploader,
    db: DatabaseDep,
    settings: SettingsDep,
    storage: StorageDep,
    tus_resumable: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
    upload_offset: Annotated[str | None, Header()] = None,
    content_length: Annotated[str | None, Header()] = None,
) -> Response:
    """tus PATCH: the bytes from `Upload-Offset` on."""
    _version(tus_resumable)
    if (content_type or "").split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
        raise WrongUploadContentType()
    offset = _integer("Upload-Offset", upload_offset)
    declared = _integer("Content-Length", content_length) if content_length is not None else None
    state = await uploads.append(
        db,
        settings,
        storage,
        user=user,
        upload_id=upload_id,
        offset=offset,
        declared_length=declared,
        chunks=_body(request),
    )
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Upload-Offset": str(state.offset),
            **_expires(state),
        },
    )


@router.delete("/{upload_id}", include_in_schema=False, openapi_extra=_UNLISTED)
async def terminate_upload(
    upload_id: uuid.UUID,
    user: Uploader,
    db: DatabaseDep,
    settings: SettingsDep,
    storage: StorageDep,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """tus termination: the upload and its video are deleted, the bytes freed."""
    _version(tus_resumable)
    await uploads.terminate(db, settings, storage, user=user, upload_id=upload_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Tus-Resumable": TUS_VERSION})
