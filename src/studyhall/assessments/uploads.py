"""A student's submission as it arrives over HTTP: JSON `{content}` or multipart (`content` and
an optional `file`), with the one file limit every entry point applies (the API, the web pages).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from studyhall.assessments.errors import FileTooLarge
from studyhall.assessments.schemas import SubmissionCreate
from studyhall.core.errors import Unprocessable, UnsupportedMediaType
from studyhall.core.schemas import storable_text

# A module constant rather than a setting (the contract fixes the types and the size).
MAX_SUBMISSION_FILE_BYTES = 10 * 1024 * 1024
MAX_SUBMISSION_FILE_MIB = MAX_SUBMISSION_FILE_BYTES // (1024 * 1024)
# What a multipart body may add around its file (the boundaries, the text field).
_MULTIPART_MARGIN = 1024 * 1024
MAX_CONTENT_CHARS = 200_000


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    data: bytes


@dataclass(frozen=True)
class SubmissionBody:
    content: str
    file: UploadedFile | None


def too_large() -> FileTooLarge:
    return FileTooLarge(f"The file is larger than {MAX_SUBMISSION_FILE_MIB} MiB")


def check_size(data: bytes) -> None:
    """413 for a file above the limit."""
    if len(data) > MAX_SUBMISSION_FILE_BYTES:
        raise too_large()


async def read_upload(upload: UploadFile) -> UploadedFile:
    """The uploaded file's bytes, reading no more than one byte past the limit (413 above)."""
    data = await upload.read(MAX_SUBMISSION_FILE_BYTES + 1)
    check_size(data)
    return UploadedFile(filename=upload.filename or "file", data=data)


def check_request_length(content_length: str | None) -> None:
    """413 before reading a multipart body whose declared length cannot fit the limit."""
    if int(content_length or 0) > MAX_SUBMISSION_FILE_BYTES + _MULTIPART_MARGIN:
        raise FileTooLarge(
            f"The request is larger than the {MAX_SUBMISSION_FILE_MIB} MiB file limit allows"
        )


def _checked_content(content: object) -> str:
    if not isinstance(content, str):
        raise Unprocessable("content must be text", code="invalid_content")
    if len(content) > MAX_CONTENT_CHARS:
        raise Unprocessable("content is too long", code="invalid_content")
    try:
        storable_text(content)
    except ValueError as exc:
        raise Unprocessable(str(exc), code="invalid_content") from None
    return content


async def read_submission(request: Request) -> SubmissionBody:
    """The text and the optional file of a submission request (400/413/415/422 when malformed)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        check_request_length(request.headers.get("content-length"))
        async with request.form(max_files=1, max_fields=4) as form:
            content = _checked_content(form.get("content") or "")
            file = form.get("file")
            upload = None
            if isinstance(file, UploadFile) and (file.filename or file.size):
                upload = await read_upload(file)
        return SubmissionBody(content=content, file=upload)
    if content_type.startswith("application/json") or not content_type:
        try:
            body = SubmissionCreate.model_validate_json(await request.body() or b"{}")
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        return SubmissionBody(content=body.content, file=None)
    raise UnsupportedMediaType("Send application/json or multipart/form-data")
