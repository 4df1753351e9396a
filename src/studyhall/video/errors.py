"""Errors of the video domain (tus ones carry the `Tus-Resumable` header clients expect)."""

from __future__ import annotations

from studyhall.core.errors import (
    AppError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)

TUS_VERSION = "1.0.0"
_TUS = {"Tus-Resumable": TUS_VERSION}


class VideoNotFound(NotFound):
    code = "video_not_found"

    def __init__(self, message: str = "Video not found") -> None:
        super().__init__(message, headers=dict(_TUS))


class UploadExpired(AppError):
    status_code = 410
    code = "upload_expired"

    def __init__(self, message: str = "This upload expired; create a new one") -> None:
        super().__init__(message, headers=dict(_TUS))


class OffsetMismatch(Conflict):
    code = "upload_offset_mismatch"

    def __init__(self, stored: int) -> None:
        super().__init__(
            f"Upload-Offset does not match the {stored} bytes stored (ask HEAD for the offset)",
            headers={**_TUS, "Upload-Offset": str(stored)},
        )


class UploadLocked(AppError):
    status_code = 423
    code = "upload_locked"

    def __init__(self) -> None:
        super().__init__(
            "Another request is writing to this upload; retry after it ends",
            headers={**_TUS, "Retry-After": "1"},
        )


class VideoTooLarge(PayloadTooLarge):
    code = "video_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"A video may be at most {limit} bytes",
            headers={**_TUS, "Tus-Max-Size": str(limit)},
        )


class BeyondUploadLength(PayloadTooLarge):
    code = "upload_length_exceeded"

    def __init__(self) -> None:
        super().__init__(
            "The request carries more bytes than the upload has left", headers=dict(_TUS)
        )


class WrongUploadContentType(UnsupportedMediaType):
    code = "unsupported_media_type"

    def __init__(self) -> None:
        super().__init__(
            "A PATCH body must be sent as Content-Type: application/offset+octet-stream",
            headers=dict(_TUS),
        )


class TusVersionUnsupported(AppError):
    status_code = 412
    code = "tus_version_unsupported"

    def __init__(self) -> None:
        super().__init__(
            f"Only tus {TUS_VERSION} is supported (Tus-Resumable)",
            headers={**_TUS, "Tus-Version": TUS_VERSION},
        )


class BadTusRequest(AppError):
    status_code = 400
    code = "bad_tus_request"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers=dict(_TUS))


class VideoNotReady(Conflict):
    code = "video_not_ready"

    def __init__(self, message: str = "The video is not ready to play") -> None:
        super().__init__(message)


class NotStreamedHere(Conflict):
    code = "video_hosted_elsewhere"

    def __init__(self) -> None:
        super().__init__("This video is played from its host (see `player_url`)")


class VideoHostError(AppError):
    status_code = 502
    code = "video_host_error"


class VideoHostNotConfigured(ServiceUnavailable):
    code = "video_host_not_configured"
