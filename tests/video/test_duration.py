"""A finished upload's duration and media type come from the file: ffprobe when it is installed (any
container it knows, here Matroska), else the MP4 movie header (and nothing for a container the
header reader does not know, rather than a guess)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from studyhall.video.media import media_type_of, read_duration
from tests.video.conftest import API, Classroom, Headers, upload_all
from tests.video.media import tiny_mp4


def _require_ffmpeg() -> None:
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI installs ffmpeg, but ffmpeg or ffprobe is missing")
    pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")


def _matroska(path: Path, seconds: float) -> bytes:
    """A real Matroska video of `seconds` (ffmpeg's built-in FFV1 encoder, a black frame)."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"color=c=black:s=64x48:r=10:d={seconds}",
            "-c:v",
            "ffv1",
            "-y",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path.read_bytes()


async def test_ffprobe_reads_a_container_the_header_reader_does_not_know(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers, tmp_path: Path
) -> None:
    _require_ffmpeg()
    data = _matroska(tmp_path / "lecture.mkv", 2.5)
    teacher = auth(classroom.teacher)
    video_id = await upload_all(client, teacher, classroom.course, data)
    video = (await client.get(f"{API}/videos/{video_id}", headers=teacher)).json()
    assert video["status"] == "ready" and video["duration_s"] == pytest.approx(2.5, abs=0.05)
    # Served as what the file is, not as MP4.
    played = await client.get(f"{API}/videos/{video_id}/stream", headers=teacher)
    assert played.headers["content-type"] == "video/x-matroska" and played.content == data


async def test_without_ffprobe_the_mp4_header_is_read_and_other_containers_stay_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_ffmpeg()
    mkv = tmp_path / "lecture.mkv"
    _matroska(mkv, 2.5)
    mp4 = tmp_path / "lecture.mp4"
    mp4.write_bytes(tiny_mp4(90.5, payload=b"m" * 100))
    assert await read_duration(mkv) == pytest.approx(2.5, abs=0.05)
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffprobe on it
    assert await read_duration(mp4) == 90.5
    assert await read_duration(mkv) is None


def test_the_media_type_comes_from_the_files_signature() -> None:
    ts_packet = b"\x47" + bytes(187)
    cases = {
        tiny_mp4(1.0): "video/mp4",
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ": "video/quicktime",
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm": "video/webm",
        b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska": "video/x-matroska",
        b"OggS\x00\x02" + bytes(20): "video/ogg",
        b"RIFF\x00\x10\x00\x00AVI LIST": "video/x-msvideo",
        ts_packet * 3: "video/mp2t",
        # What an uploader might hope to have served inline: it is not a video.
        b"<html><script>alert(1)</script></html>": "application/octet-stream",
        b"Gone with the wind" + bytes(400): "application/octet-stream",
        b"": "application/octet-stream",
    }
    for head, expected in cases.items():
        assert media_type_of(head) == expected, head[:16]
