"""The Vimeo host against a Vimeo-shaped peer whose upload links are a real tus server's."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import httpx
import pytest
from tusclient.client import TusClient

from studyhall.config import Settings
from tests.peers.tus_server import TusPeer, require
from tests.peers.vimeo_api import TOKEN, VimeoPeer
from tests.video.conftest import API, Classroom, Headers
from tests.video.media import tiny_mp4


@pytest.fixture
def tus_peer() -> Iterator[TusPeer]:
    require()
    peer = TusPeer()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def vimeo(tus_peer: TusPeer) -> Iterator[VimeoPeer]:
    peer = VimeoPeer(tus_endpoint=tus_peer.endpoint)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def settings(settings: Settings, vimeo: VimeoPeer) -> Settings:
    """Videos hosted on the Vimeo peer."""
    video = settings.video.model_copy(
        update={"host": "vimeo", "vimeo_api_base": vimeo.url, "vimeo_token": TOKEN}
    )
    return settings.model_copy(update={"video": video})


def _tus_upload(link: str, data: bytes) -> None:
    uploader = TusClient(link).uploader(file_stream=io.BytesIO(data), url=link, chunk_size=4096)
    uploader.upload()


async def test_a_video_is_created_uploaded_edited_and_deleted_on_vimeo(
    client: httpx.AsyncClient,
    classroom: Classroom,
    auth: Headers,
    vimeo: VimeoPeer,
    tus_peer: TusPeer,
) -> None:
    teacher = auth(classroom.teacher)
    data = tiny_mp4(42.0, payload=b"vimeo" * 3000)
    created = await client.post(
        f"{API}/courses/{classroom.course}/videos",
        json={"title": "Optics on Vimeo", "size_bytes": len(data), "description": "Lenses"},
        headers=teacher,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["upload_link"].startswith(tus_peer.endpoint)
    video = body["video"]
    assert video["host"] == "vimeo" and video["status"] == "uploading"
    remote_id = video["player_url"].rsplit("/", 1)[1]
    method, path, sent = vimeo.calls[0]
    assert (method, path) == ("POST", "/me/videos")
    assert sent is not None
    assert sent["upload"] == {"approach": "tus", "size": str(len(data))}
    assert sent["name"] == "Optics on Vimeo" and sent["privacy"] == {"view": "disable"}

    # The client uploads straight to Vimeo's tus link; StudyHall then finds the video ready.
    await asyncio.to_thread(_tus_upload, body["upload_link"], data)
    assert tus_peer.stored(body["upload_link"]) == data
    got = await client.get(f"{API}/videos/{body['video_id']}", headers=teacher)
    assert got.status_code == 200
    assert got.json()["status"] == "ready" and got.json()["duration_s"] == 42
    stream = await client.get(f"{API}/videos/{body['video_id']}/stream", headers=teacher)
    assert stream.status_code == 409 and stream.json()["code"] == "video_hosted_elsewhere"

    edited = await client.patch(
        f"{API}/videos/{body['video_id']}",
        json={"title": "Optics, edited", "privacy": "staff"},
        headers=teacher,
    )
    assert edited.status_code == 200
    assert vimeo.videos[remote_id]["name"] == "Optics, edited"
    assert vimeo.videos[remote_id]["privacy"] == {"view": "nobody"}

    deleted = await client.delete(f"{API}/videos/{body['video_id']}", headers=teacher)
    assert deleted.status_code == 204
    assert remote_id not in vimeo.videos
    assert ("DELETE", f"/videos/{remote_id}", None) in vimeo.calls


async def test_a_refusing_vimeo_is_a_clean_502_and_creates_nothing(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers, vimeo: VimeoPeer, app: object
) -> None:
    app.state.settings.video.vimeo_token = "a-wrong-token"  # type: ignore[attr-defined]
    refused = await client.post(
        f"{API}/courses/{classroom.course}/videos",
        json={"title": "x", "size_bytes": 100},
        headers=auth(classroom.teacher),
    )
    assert refused.status_code == 502 and refused.json()["code"] == "video_host_error"
    assert TOKEN not in refused.text and "a-wrong-token" not in refused.text
    listed = await client.get(
        f"{API}/courses/{classroom.course}/videos", headers=auth(classroom.teacher)
    )
    assert listed.json()["total"] == 0
    assert vimeo.videos == {}
