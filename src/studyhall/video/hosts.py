"""Where a video's bytes live: the `VideoHost` interface and its two implementations.

`local` (the default): StudyHall is the tus server (see uploads.py) and streams the file from
storage. `vimeo`: the Vimeo REST API creates the video with a tus upload link the client
uploads to directly; StudyHall keeps the id and asks Vimeo for the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from studyhall.config import Settings, VideoSettings
from studyhall.core.storage import LocalStorage
from studyhall.video.errors import VideoHostError, VideoHostNotConfigured
from studyhall.video.models import Video, VideoHostName, VideoPrivacy, VideoStatus

UPLOADS_PATH = "/api/v1/videos/uploads"


@dataclass(frozen=True)
class RemoteState:
    """What the remote host says about a video."""

    status: VideoStatus
    duration_s: float | None
    error: str | None = None


class VideoHost(Protocol):
    """A place that takes a video's upload and plays it."""

    name: VideoHostName

    async def create(self, video: Video) -> None:
        """Prepare the upload: set the video's upload link (and storage key or remote id)."""

    async def update(self, video: Video) -> None:
        """Push the video's title, description and privacy to the host."""

    async def delete(self, video: Video) -> None:
        """Remove the video from the host (local bytes are freed by a job after commit)."""

    async def refresh(self, video: Video) -> RemoteState | None:
        """The host's view of an uploading video, or None when StudyHall itself knows."""


class LocalHost:
    """StudyHall's own tus endpoint and storage."""

    name = VideoHostName.local

    def __init__(self, settings: Settings, storage: LocalStorage) -> None:
        self.settings = settings
        self.storage = storage

    async def create(self, video: Video) -> None:
        video.storage_key = self.storage.new_key("videos", ".video")
        await self.storage.create_empty(video.storage_key)
        video.upload_link = f"{self.settings.public_url.rstrip('/')}{UPLOADS_PATH}/{video.id}"

    async def update(self, video: Video) -> None:
        return None

    async def delete(self, video: Video) -> None:
        return None

    async def refresh(self, video: Video) -> RemoteState | None:
        return None


# Vimeo's privacy.view for ours: `course` videos are embeddable but not listed on vimeo.com.
_VIMEO_VIEW = {VideoPrivacy.course: "disable", VideoPrivacy.staff: "nobody"}


class VimeoHost:
    """The Vimeo REST API (https://developer.vimeo.com/api/reference/videos)."""

    name = VideoHostName.vimeo

    def __init__(self, settings: VideoSettings) -> None:
        if not settings.vimeo_token:
            raise VideoHostNotConfigured("Vimeo is not configured (VIDEO__VIMEO_TOKEN)")
        self.settings = settings
        self.token = settings.vimeo_token

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.settings.vimeo_api_base.rstrip("/"),
            timeout=self.settings.vimeo_timeout_s,
            headers={
                "Authorization": f"bearer {self.token}",
                "Accept": f"application/vnd.vimeo.*+json;version={self.settings.vimeo_api_version}",
                "Content-Type": "application/json",
            },
        )

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            async with self._client() as client:
                response = await client.request(method, path, json=body)
        except httpx.HTTPError:
            raise VideoHostError("Vimeo could not be reached") from None
        if method == "DELETE" and response.status_code == 404:
            return None  # already gone: deleting is done
        if response.status_code >= 400:
            # Vimeo's `error` is a human sentence without secrets; never echo our request.
            raise VideoHostError(f"Vimeo refused the request ({response.status_code})")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise VideoHostError("Vimeo answered something that is not JSON") from None

    def _metadata(self, video: Video) -> dict[str, Any]:
        return {
            "name": video.title,
            "description": video.description,
            "privacy": {"view": _VIMEO_VIEW[video.privacy]},
        }

    async def create(self, video: Video) -> None:
        body = {
            **self._metadata(video),
            "upload": {"approach": "tus", "size": str(video.size_bytes)},
        }
        created = await self._call("POST", "/me/videos", body)
        try:
            uri = str(created["uri"])
            link = str(created["upload"]["upload_link"])
        except (KeyError, TypeError):
            raise VideoHostError("Vimeo's answer has no video uri or upload link") from None
        if not uri.startswith("/videos/") or not link.startswith(("https://", "http://")):
            raise VideoHostError("Vimeo's answer has an unexpected video uri or upload link")
        video.remote_id = uri.removeprefix("/videos/")
        video.upload_link = link

    async def update(self, video: Video) -> None:
        await self._call("PATCH", f"/videos/{video.remote_id}", self._metadata(video))

    async def delete(self, video: Video) -> None:
        if video.remote_id:
            await self._call("DELETE", f"/videos/{video.remote_id}")

    async def refresh(self, video: Video) -> RemoteState | None:
        data = await self._call(
            "GET", f"/videos/{video.remote_id}?fields=upload,transcode,duration"
        )
        upload = (data or {}).get("upload") or {}
        transcode = (data or {}).get("transcode") or {}
        duration = (data or {}).get("duration")
        seconds = float(duration) if isinstance(duration, int | float) and duration > 0 else None
        if upload.get("status") == "error" or transcode.get("status") == "error":
            return RemoteState(VideoStatus.failed, None, "Vimeo could not process the upload")
        # Playable once the bytes are in and Vimeo has transcoded them.
        if upload.get("status") == "complete" and transcode.get("status", "complete") == "complete":
            return RemoteState(VideoStatus.ready, seconds)
        return RemoteState(VideoStatus.uploading, None)


def host_for(name: VideoHostName, settings: Settings, storage: LocalStorage) -> VideoHost:
    """The implementation of a host name."""
    if name == VideoHostName.vimeo:
        return VimeoHost(settings.video)
    return LocalHost(settings, storage)
