"""Loader dependencies (object-level authorization in one place) and the bounded upload reader."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from studyhall.core.db import SessionDep
from studyhall.core.errors import (
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from studyhall.core.openapi import answers
from studyhall.core.schemas import declare_nul_free
from studyhall.courses import dependencies as courses_deps
from studyhall.identity.dependencies import CurrentUser, SettingsDep
from studyhall.knowledge import service
from studyhall.knowledge.models import Document
from studyhall.knowledge.schemas import CourseUploadFields, LibraryUploadFields

# Room for the multipart envelope and the small text fields around the file.
_FORM_OVERHEAD = 64 * 1024
_FIELD_BYTES = 16 * 1024


async def readable_course(course: courses_deps.ReadableCourse) -> uuid.UUID:
    """A course whose documents the caller may read (`courses`' reader rule: 404 when the
    caller cannot see it, 403 when they see it but may not read it)."""
    return course.id


async def managed_course(course: courses_deps.OwnedCourse) -> uuid.UUID:
    """A course the caller manages (owner teacher, admin; `courses`' owner rule)."""
    return course.id


ReadableCourse = Annotated[uuid.UUID, Depends(readable_course)]
ManagedCourse = Annotated[uuid.UUID, Depends(managed_course)]


@answers(404)
async def readable_document(
    document_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Document:
    """A document the caller may read, else 404."""
    return await service.readable_document(session, user=user, document_id=document_id)


@answers(403, 404)
async def managed_document(
    document_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Document:
    """A document the caller may change (its course's owner, admin; library: admin)."""
    return await service.managed_document(session, user=user, document_id=document_id)


ReadableDocument = Annotated[Document, Depends(readable_document)]
ManagedDocument = Annotated[Document, Depends(managed_document)]


# ---------------------------------------------------------------------------- uploads


@dataclass(frozen=True)
class Upload:
    """A received file (bounded by the upload limit) and the form's text fields."""

    data: bytes
    filename: str | None
    fields: dict[str, str]


async def _read_upload(request: Request, limit: int) -> Upload:
    """Parse multipart/form-data while counting bytes: past the limit the request stops at 413.

    FastAPI's `UploadFile` parameters would spool the whole body before the route runs, whatever
    its size; reading the stream here enforces the limit as the bytes arrive.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType("Send the document as multipart/form-data with a `file` field")
    too_large = PayloadTooLarge(f"The file is larger than the {limit} byte limit")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
        raise too_large

    async def limited() -> Any:
        total = 0
        async for piece in request.stream():
            total += len(piece)
            if total > limit + _FORM_OVERHEAD:
                raise too_large
            yield piece

    parser = MultiPartParser(
        request.headers, limited(), max_files=1, max_fields=10, max_part_size=_FIELD_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Unprocessable(f"Malformed multipart body: {exc.message}") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Unprocessable("The form needs a `file` field holding the document")
        if upload.size is not None and upload.size > limit:
            raise too_large
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise too_large
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return Upload(data=data, filename=upload.filename, fields=fields)
    finally:
        await form.close()


def _fields(model: type[CourseUploadFields] | type[LibraryUploadFields], upload: Upload) -> Any:
    try:
        return model.model_validate(upload.fields)
    except ValidationError as exc:
        # The standard 422 body, as if FastAPI had validated the form itself.
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


@dataclass(frozen=True)
class CourseUpload:
    upload: Upload
    fields: CourseUploadFields | LibraryUploadFields

    def document(self) -> service.NewDocument:
        """The new document the form describes (its file and its validated fields)."""
        return service.NewDocument(
            data=self.upload.data, filename=self.upload.filename, **self.fields.model_dump()
        )


@dataclass(frozen=True)
class LibraryUpload(CourseUpload):
    fields: LibraryUploadFields


@answers(413, 415, 422)
async def course_upload(request: Request, settings: SettingsDep) -> CourseUpload:
    """The multipart body of a course document upload."""
    upload = await _read_upload(request, settings.knowledge.max_upload_bytes)
    return CourseUpload(upload, _fields(CourseUploadFields, upload))


@answers(413, 415, 422)
async def library_upload(request: Request, settings: SettingsDep) -> LibraryUpload:
    """The multipart body of a library document upload."""
    upload = await _read_upload(request, settings.knowledge.max_upload_bytes)
    return LibraryUpload(upload, _fields(LibraryUploadFields, upload))


@answers(413, 415, 422)
async def any_upload(request: Request, settings: SettingsDep) -> Upload:
    """A multipart upload within the size limit, its text fields left to the caller (a client
    with a form of its own: the compatibility dialects)."""
    return await _read_upload(request, settings.knowledge.max_upload_bytes)


CourseUploadDep = Annotated[CourseUpload, Depends(course_upload)]
AnyUploadDep = Annotated[Upload, Depends(any_upload)]
LibraryUploadDep = Annotated[LibraryUpload, Depends(library_upload)]


def upload_openapi(*, library: bool) -> dict[str, Any]:
    """The multipart request body for the OpenAPI schema (the route reads the stream itself)."""
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary"},
        "title": {"type": "string", "maxLength": 300},
        "language": {"type": "string", "minLength": 2, "maxLength": 16},
    }
    required = ["file"]
    if library:
        properties["level"] = {"type": "string", "maxLength": 64}
        properties["subject"] = {"type": "string", "minLength": 1, "maxLength": 100}
        required += ["subject", "language"]
    # The fields are validated by InputSchema models (no NUL character), as their schema says.
    for field in properties.values():
        declare_nul_free(field)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": required,
                        "properties": properties,
                        "additionalProperties": False,
                    }
                }
            },
        }
    }
